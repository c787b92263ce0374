//! OpenAPI 3.2 documents: parameters, bodies, problem responses, event sets. The document of
//! a sample app is committed (`openapi/sample.json`) and linted by Redocly in CI.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use tidings::headers::UserAgent;
use tidings::{Emitter, Header, Json, Path, Query, Router, Validate, event_stream};

/// A place on Earth.
#[derive(Debug, Clone, serde::Serialize, Deserialize, JsonSchema, Validate)]
pub struct Place {
    #[validate(range(min = -90.0, max = 90.0))]
    lat: f64,
    #[validate(range(min = -180.0, max = 180.0))]
    lon: f64,
}

/// What a delivery reports.
#[event_stream]
#[derive(Debug, Clone)]
pub enum Delivery {
    /// The courier moved.
    Moved {
        /// Where the courier is now.
        at: Place,
    },
    /// A note from the courier.
    #[event(text)]
    Note(String),
    /// Delivered.
    Delivered,
}

#[derive(Deserialize, JsonSchema, Validate)]
struct Track {
    /// Send a `moved` event at most this often.
    #[validate(range(min = 100, max = 60_000))]
    every_ms: Option<u32>,
    /// Only these couriers.
    #[serde(default)]
    courier: Vec<String>,
}

/// Follow one delivery.
///
/// Streams the courier's position until the parcel is delivered.
#[event_stream(path = "/deliveries/{id}")]
async fn follow(
    Path(id): Path<u64>,
    Query(track): Query<Track>,
    Header(agent): Header<UserAgent>,
    events: Emitter<Delivery>,
) -> tidings::Result<()> {
    let _ = (id, track.every_ms, track.courier, agent);
    events.emit(Delivery::Delivered).await?;
    Ok(())
}

#[derive(Deserialize, JsonSchema, Validate)]
struct Route {
    #[validate(length(min = 2, max = 20), nested)]
    stops: Vec<Place>,
    #[validate(pattern = "^[A-Z]{2}[0-9]{4}$")]
    reference: String,
}

/// Plan a route and stream the progress.
#[event_stream(path = "/plans", method = "POST")]
async fn plan(Json(route): Json<Route>, events: Emitter<Delivery>) -> tidings::Result<()> {
    for stop in route.stops {
        events.emit(Delivery::Moved { at: stop }).await?;
    }
    Ok(())
}

fn app() -> Router {
    Router::new().nest("/v1", Router::new().route(follow).route(plan))
}

fn document() -> serde_json::Value {
    app()
        .openapi()
        .title("Deliveries")
        .version("2.1.0")
        .server("https://api.example.test")
        .to_json()
}

#[test]
fn parameters_come_from_the_extractors() {
    let doc = document();
    let get = &doc["paths"]["/v1/deliveries/{id}"]["get"];
    assert_eq!(get["operationId"], "follow");
    assert_eq!(get["summary"], "Follow one delivery.");
    assert!(
        get["description"]
            .as_str()
            .unwrap()
            .contains("until the parcel is delivered")
    );
    let parameters = get["parameters"].as_array().unwrap();
    let find = |name: &str| {
        parameters
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(find("id")["in"], "path");
    assert_eq!(find("id")["required"], true);
    assert_eq!(find("id")["schema"]["type"], "integer");
    let every = find("every_ms");
    assert_eq!(
        (every["in"].clone(), every["required"].clone()),
        (json!("query"), json!(false))
    );
    assert_eq!(every["schema"]["minimum"], 100);
    assert_eq!(every["schema"]["maximum"], 60_000);
    assert_eq!(
        every["description"],
        "Send a `moved` event at most this often."
    );
    let courier = find("courier");
    assert_eq!(
        (courier["style"].clone(), courier["explode"].clone()),
        (json!("form"), json!(true))
    );
    assert_eq!(find("user-agent")["in"], "header");
    let responses = get["responses"].as_object().unwrap();
    let statuses: Vec<_> = responses.keys().cloned().collect();
    assert_eq!(statuses, ["200", "400", "406", "500"]);
    assert_eq!(
        responses["400"]["content"]["application/problem+json"]["schema"]["$ref"],
        "#/components/schemas/tidings.Problem"
    );
}

#[test]
fn post_streams_document_their_json_body() {
    let doc = document();
    let post = &doc["paths"]["/v1/plans"]["post"];
    let body = &post["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(body["properties"]["stops"]["minItems"], 2);
    assert_eq!(
        body["properties"]["reference"]["pattern"],
        "^[A-Z]{2}[0-9]{4}$"
    );
    assert_eq!(
        body["properties"]["stops"]["items"]["$ref"],
        "#/components/schemas/Place"
    );
    for status in ["413", "415"] {
        assert!(post["responses"].get(status).is_some(), "{status}");
    }
}

#[test]
fn the_stream_is_an_item_schema_discriminated_by_event() {
    let doc = document();
    let stream = &doc["paths"]["/v1/deliveries/{id}"]["get"]["responses"]["200"]["content"]["text/event-stream"];
    assert_eq!(
        stream["itemSchema"]["$ref"],
        "#/components/schemas/Delivery"
    );
    let schemas = &doc["components"]["schemas"];
    let set = &schemas["Delivery"];
    assert_eq!(set["discriminator"]["propertyName"], "event");
    assert_eq!(
        set["oneOf"].as_array().unwrap().len(),
        5,
        "three events, `error` and `tidings.end`"
    );
    assert_eq!(
        set["discriminator"]["mapping"]["tidings.end"],
        "#/components/schemas/tidings.end"
    );
    let end = &schemas["tidings.end"]["properties"]["data"]["contentSchema"];
    assert_eq!(end["required"], serde_json::json!(["reason", "reconnect"]));
    assert_eq!(
        end["properties"]["reason"]["enum"],
        serde_json::json!([
            "handler_done",
            "complete",
            "error",
            "lifetime",
            "shutdown",
            "slow_consumer"
        ])
    );
    let moved = &schemas["Delivery.moved"];
    assert_eq!(moved["properties"]["event"]["const"], "moved");
    assert_eq!(moved["description"], "The courier moved.");
    let data = &moved["properties"]["data"];
    assert_eq!(data["contentMediaType"], "application/json");
    assert_eq!(
        data["contentSchema"]["properties"]["at"]["$ref"],
        "#/components/schemas/Place"
    );
    assert_eq!(
        schemas["Delivery.note"]["properties"]["data"]["contentMediaType"],
        "text/plain"
    );
    assert_eq!(
        schemas["Delivery.delivered"]["properties"]["data"]["contentSchema"]["type"],
        "null"
    );
    // Shared, not repeated: both routes point at the one `Delivery` and the one `Place`.
    assert_eq!(schemas["Place"]["properties"]["lat"]["maximum"], 90.0);
    let text = doc.to_string();
    assert_eq!(
        text.matches("\"lat\":{").count(),
        1,
        "Place is defined once"
    );
}

/// The committed sample is what the code generates (CI lints it with Redocly).
#[test]
fn the_sample_document_is_up_to_date() {
    let document = serde_json::to_string_pretty(&document()).unwrap() + "\n";
    tidings_tests::assert_up_to_date("tests/openapi/sample.json", &document);
}

/// Never compressed, whatever the router says.
#[event_stream(path = "/quiet", compress = false)]
async fn quiet(events: Emitter<Delivery>) -> tidings::Result<()> {
    events.emit(Delivery::Delivered).await?;
    Ok(())
}

#[test]
fn compressing_streams_document_their_encodings() {
    use tidings::compression::{Compression, Encoding};
    let compressing = Router::new()
        .route(follow)
        .route(quiet)
        .compression(Compression::new().encodings([Encoding::Gzip, Encoding::Zstd]));
    let document = compressing.openapi().to_json();
    let ok = |path: &str| document["paths"][path]["get"]["responses"]["200"].clone();
    let headers = &ok("/deliveries/{id}")["headers"];
    assert_eq!(
        headers["Content-Encoding"]["schema"]["enum"],
        serde_json::json!(["gzip", "zstd"])
    );
    assert_eq!(headers["Vary"]["schema"]["const"], "accept-encoding");
    assert!(ok("/quiet").get("headers").is_none());
    // Off unless asked for: the sample document's streams list no encodings.
    let plain = document_paths_with_headers(&self::document());
    assert!(plain.is_empty(), "{plain:?}");
}

/// The operations whose `200` response has headers.
fn document_paths_with_headers(document: &serde_json::Value) -> Vec<String> {
    let paths = document["paths"].as_object().unwrap();
    paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .iter()
                .filter(|(_, operation)| operation["responses"]["200"].get("headers").is_some())
                .map(move |(method, _)| format!("{method} {path}"))
        })
        .collect()
}
