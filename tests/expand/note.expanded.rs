use tidings::reply::Created;
use tidings::{Json, Path, Rejection, Validate, json_route};
#[derive(serde::Deserialize, schemars::JsonSchema, Validate)]
pub struct NewNote {
    #[validate(length(min = 1))]
    pub text: String,
}
/// The endpoint type of the function of the same name; `Router::route` takes the
/// function.
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug)]
struct post_note {
    _private: (),
}
/// Posts a note to a team.
///
/// A `#[json_route]` endpoint: register it with `Router::route`.
fn post_note() -> post_note {
    post_note { _private: () }
}
#[automatically_derived]
impl ::tidings::JsonEndpoint for post_note {
    type Reply = Result<Created<String>, Rejection>;
    const METHOD: ::tidings::__private::Method = ::tidings::__private::Method::POST;
    const PATH: &'static str = "/teams/{team}/notes";
    const NAME: &'static str = "post_note";
    const DESCRIPTION: ::core::option::Option<&'static str> = ::core::option::Option::Some(
        "Posts a note to a team.",
    );
    fn describe_inputs(
        doc: &mut ::tidings::openapi::InputDoc,
        generator: &mut ::tidings::__private::schemars::SchemaGenerator,
    ) {
        <Path<String> as ::tidings::FromRequest>::describe(doc, generator);
        <Json<NewNote> as ::tidings::FromRequest>::describe(doc, generator);
        let _ = (doc, generator);
    }
    fn needs(needs: &mut ::tidings::wiring::Wiring) {
        <Path<String> as ::tidings::FromRequest>::needs(needs);
        <Json<NewNote> as ::tidings::FromRequest>::needs(needs);
        let _ = needs;
    }
    #[allow(unused_mut)]
    fn call(
        &self,
        mut __cx: ::tidings::RequestContext,
    ) -> ::tidings::__private::BoxFuture<
        'static,
        ::core::result::Result<Self::Reply, ::tidings::Rejection>,
    > {
        /// Posts a note to a team.
        async fn post_note(
            Path(team): Path<String>,
            Json(note): Json<NewNote>,
        ) -> Result<Created<String>, Rejection> {
            Ok(Created(format!("{team}: {}", note.text)))
        }
        ::std::boxed::Box::pin(async move {
            let __arg0 = <Path<
                String,
            > as ::tidings::FromRequest>::from_request(&mut __cx)
                .await
                .map_err(::tidings::__private::rejection)?;
            let __arg1 = <Json<
                NewNote,
            > as ::tidings::FromRequest>::from_request(&mut __cx)
                .await
                .map_err(::tidings::__private::rejection)?;
            let _ = &mut __cx;
            ::core::result::Result::Ok(post_note(__arg0, __arg1).await)
        })
    }
}
