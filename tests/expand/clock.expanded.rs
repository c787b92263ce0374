#[derive(::tidings::__private::serde::Serialize)]
#[serde(crate = "::tidings::__private::serde", untagged)]
/// What the clock says.
#[derive(Debug, Clone)]
pub enum Clock {
    /// The current time.
    Tick { unix_ms: u64 },
    Note(String),
    Stopped,
}
const _: () = {
    #[derive(
        ::tidings::__private::serde::Deserialize,
        ::tidings::__private::schemars::JsonSchema
    )]
    #[serde(crate = "::tidings::__private::serde")]
    #[schemars(crate = "::tidings::__private::schemars")]
    #[allow(dead_code)]
    struct __TickData {
        #[schemars(range(min = 1))]
        unix_ms: u64,
    }
    #[derive(
        ::tidings::__private::serde::Deserialize,
        ::tidings::__private::schemars::JsonSchema
    )]
    #[serde(crate = "::tidings::__private::serde")]
    #[schemars(crate = "::tidings::__private::schemars")]
    #[allow(dead_code)]
    struct __NoteData(String);
    #[automatically_derived]
    impl ::tidings::EventSet for Clock {
        const TYPE_NAME: &'static str = "Clock";
        const NAMES: &'static [&'static str] = &["tick", "note", "bye"];
        fn name(&self) -> &'static str {
            match self {
                Clock::Tick { .. } => "tick",
                Clock::Note(..) => "note",
                Clock::Stopped => "bye",
            }
        }
        fn text(&self) -> ::core::option::Option<&str> {
            #[allow(unreachable_patterns)]
            match self {
                Clock::Note(__text) => {
                    ::core::option::Option::Some(
                        ::core::convert::AsRef::<str>::as_ref(__text),
                    )
                }
                _ => ::core::option::Option::None,
            }
        }
        fn decode(
            __name: &str,
            __data: &str,
        ) -> ::core::result::Result<Self, ::tidings::DecodeError> {
            match __name {
                "tick" => {
                    ::core::result::Result::Ok({
                        let __value: __TickData = ::tidings::__private::serde_json::from_str(
                                __data,
                            )
                            .map_err(::tidings::DecodeError::data("tick"))?;
                        Clock::Tick {
                            unix_ms: __value.unix_ms,
                        }
                    })
                }
                "note" => {
                    ::core::result::Result::Ok({
                        Clock::Note(
                            ::core::convert::From::from(
                                ::std::string::String::from(__data),
                            ),
                        )
                    })
                }
                "bye" => {
                    ::core::result::Result::Ok({
                        ::tidings::__private::support::decode_unit("bye", __data)?;
                        Clock::Stopped
                    })
                }
                _ => ::core::result::Result::Err(::tidings::DecodeError::unknown(__name)),
            }
        }
        fn event_schemas(
            __generator: &mut ::tidings::__private::schemars::SchemaGenerator,
        ) -> ::std::vec::Vec<::tidings::EventSchema> {
            ::std::vec![
                ::tidings::__private::support::schema("tick",
                ::core::option::Option::Some("The current time."), false, < __TickData as
                ::tidings::__private::schemars::JsonSchema > ::json_schema(__generator)),
                ::tidings::__private::support::schema("note",
                ::core::option::Option::None, true, < __NoteData as
                ::tidings::__private::schemars::JsonSchema > ::json_schema(__generator)),
                ::tidings::__private::support::schema("bye",
                ::core::option::Option::None, false,
                ::tidings::__private::support::null_schema())
            ]
        }
    }
    #[automatically_derived]
    impl ::tidings::Validate for Clock {
        fn validate_at(
            &self,
            __at: &::tidings::__private::FieldPath<'_>,
            __report: &mut ::tidings::Violations,
        ) {
            #[allow(unused_variables)]
            match self {
                Clock::Tick { unix_ms: __f0 } => {
                    ::tidings::__private::check::range(
                        __f0,
                        ::core::option::Option::Some(1),
                        ::core::option::Option::None,
                        &__at.field("unix_ms"),
                        __report,
                    );
                }
                _ => {}
            }
        }
    }
};
/// The endpoint type of the function of the same name; `Router::route` takes the
/// function.
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug)]
struct clock {
    _private: (),
}
/// The time, every second.
///
/// An `#[event_stream]` endpoint: register it with `Router::route`.
fn clock() -> clock {
    clock { _private: () }
}
#[automatically_derived]
impl ::tidings::Endpoint for clock {
    type Event = Clock;
    const METHOD: ::tidings::__private::Method = ::tidings::__private::Method::GET;
    const PATH: &'static str = "/clock/{zone}";
    const NAME: &'static str = "clock";
    const DESCRIPTION: ::core::option::Option<&'static str> = ::core::option::Option::Some(
        "The time, every second.",
    );
    fn describe_inputs(
        doc: &mut ::tidings::openapi::InputDoc,
        generator: &mut ::tidings::__private::schemars::SchemaGenerator,
    ) {
        <Path<String> as ::tidings::FromRequest>::describe(doc, generator);
        let _ = (doc, generator);
    }
    #[allow(unused_mut)]
    fn start(
        &self,
        mut __cx: ::tidings::RequestContext,
    ) -> ::tidings::__private::BoxFuture<
        'static,
        ::core::result::Result<
            ::tidings::__private::StreamTask<Clock>,
            ::tidings::Rejection,
        >,
    > {
        /// The time, every second.
        async fn clock(
            Path(zone): Path<String>,
            events: Emitter<Clock>,
        ) -> tidings::Result<()> {
            events.emit(Clock::Note(zone)).await?;
            Ok(())
        }
        ::std::boxed::Box::pin(async move {
            let __arg0 = ::tidings::__private::extract::<Path<String>>(&mut __cx).await?;
            let _ = &mut __cx;
            ::core::result::Result::Ok(
                ::tidings::__private::StreamTask::new(move |__events| clock(
                    __arg0,
                    __events,
                )),
            )
        })
    }
}
