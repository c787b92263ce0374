// Input of the expansion snapshot (see macros/src/snapshot.rs); not compiled on its own.

use tidings::reply::Created;
use tidings::{Json, Path, Rejection, Validate, json_route};

#[derive(serde::Deserialize, schemars::JsonSchema, Validate)]
pub struct NewNote {
    #[validate(length(min = 1))]
    pub text: String,
}

/// Posts a note to a team.
#[json_route(path = "/teams/{team}/notes", method = "POST")]
async fn post_note(
    Path(team): Path<String>,
    Json(note): Json<NewNote>,
) -> Result<Created<String>, Rejection> {
    Ok(Created(format!("{team}: {}", note.text)))
}
