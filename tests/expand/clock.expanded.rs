#[derive(::tidings::__private::serde::Serialize)]
#[serde(crate = "::tidings::__private::serde", untagged)]
/// What the clock says.
#[derive(Debug, Clone)]
pub enum Clock {
    /// The current time.
    Tick { unix_ms: u64, zone: Option<Zone> },
    Note(String),
    Stopped,
    #[serde(serialize_with = "Clock::__tidings_serialize_Face")]
    Face(Vec<u8>),
    Chime {
        #[serde(serialize_with = "Clock::__tidings_serialize_Chime_sound")]
        sound: Vec<u8>,
    },
}
const _: () = {
    #[allow(non_upper_case_globals)]
    const __TIDINGS_BASE64_FACE: ::tidings::binary::Codec<Vec<u8>> = ::tidings::binary::codec::<
        Vec<u8>,
    >(::tidings::binary::Alphabet::Standard);
    #[allow(non_upper_case_globals)]
    const __TIDINGS_BASE64_CHIME_SOUND: ::tidings::binary::Codec<Vec<u8>> = ::tidings::binary::codec::<
        Vec<u8>,
    >(::tidings::binary::Alphabet::UrlSafe);
    impl Clock {
        #[doc(hidden)]
        #[allow(non_snake_case)]
        fn __tidings_serialize_Face<__S: ::tidings::__private::serde::Serializer>(
            __value: &Vec<u8>,
            __serializer: __S,
        ) -> ::core::result::Result<__S::Ok, __S::Error> {
            __TIDINGS_BASE64_FACE.serialize(__value, __serializer)
        }
        #[doc(hidden)]
        #[allow(non_snake_case)]
        fn __tidings_serialize_Chime_sound<__S: ::tidings::__private::serde::Serializer>(
            __value: &Vec<u8>,
            __serializer: __S,
        ) -> ::core::result::Result<__S::Ok, __S::Error> {
            __TIDINGS_BASE64_CHIME_SOUND.serialize(__value, __serializer)
        }
        #[doc(hidden)]
        #[allow(non_snake_case)]
        fn __tidings_deserialize_Chime_sound<
            'de,
            __D: ::tidings::__private::serde::Deserializer<'de>,
        >(__deserializer: __D) -> ::core::result::Result<Vec<u8>, __D::Error> {
            __TIDINGS_BASE64_CHIME_SOUND.deserialize(__deserializer)
        }
    }
    #[allow(non_camel_case_types)]
    struct __TickData_zone;
    impl ::tidings::__private::support::DataField for __TickData_zone {
        fn schema() -> ::tidings::__private::support::DataSchema {
            ::tidings::__private::support::DataSchema::of::<Zone>()
        }
    }
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
        #[schemars(
            with = "::core::option::Option<::tidings::__private::support::FieldSchema<__TickData_zone>>"
        )]
        zone: Option<Zone>,
    }
    #[derive(
        ::tidings::__private::serde::Deserialize,
        ::tidings::__private::schemars::JsonSchema
    )]
    #[serde(crate = "::tidings::__private::serde")]
    #[schemars(crate = "::tidings::__private::schemars")]
    #[allow(dead_code)]
    struct __NoteData(String);
    #[derive(
        ::tidings::__private::serde::Deserialize,
        ::tidings::__private::schemars::JsonSchema
    )]
    #[serde(crate = "::tidings::__private::serde")]
    #[schemars(crate = "::tidings::__private::schemars")]
    #[allow(dead_code)]
    struct __ChimeData {
        #[serde(deserialize_with = "Clock::__tidings_deserialize_Chime_sound")]
        #[schemars(
            with = "::std::string::String",
            extend("contentEncoding" = "base64url")
        )]
        sound: Vec<u8>,
    }
    #[automatically_derived]
    impl ::tidings::EventSet for Clock {
        const TYPE_NAME: &'static str = "Clock";
        const NAMES: &'static [&'static str] = &["tick", "note", "bye", "face", "chime"];
        fn name(&self) -> &'static str {
            match self {
                Clock::Tick { .. } => "tick",
                Clock::Note(..) => "note",
                Clock::Stopped => "bye",
                Clock::Face(..) => "face",
                Clock::Chime { .. } => "chime",
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
        fn binary(
            &self,
        ) -> ::core::option::Option<(&[u8], ::tidings::binary::Alphabet)> {
            #[allow(unreachable_patterns)]
            match self {
                Clock::Face(__bytes) => {
                    ::core::option::Option::Some((
                        __TIDINGS_BASE64_FACE.bytes(__bytes),
                        __TIDINGS_BASE64_FACE.alphabet,
                    ))
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
                            zone: __value.zone,
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
                "face" => {
                    ::core::result::Result::Ok({
                        Clock::Face(
                            ::tidings::__private::support::decode_binary(
                                "face",
                                __data,
                                &__TIDINGS_BASE64_FACE,
                            )?,
                        )
                    })
                }
                "chime" => {
                    ::core::result::Result::Ok({
                        let __value: __ChimeData = ::tidings::__private::serde_json::from_str(
                                __data,
                            )
                            .map_err(::tidings::DecodeError::data("chime"))?;
                        Clock::Chime {
                            sound: __value.sound,
                        }
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
                ::core::option::Option::Some("The current time."), false,
                ::core::option::Option::None, < __TickData as
                ::tidings::__private::schemars::JsonSchema > ::json_schema(__generator)),
                ::tidings::__private::support::schema("note",
                ::core::option::Option::None, true, ::core::option::Option::None, <
                __NoteData as ::tidings::__private::schemars::JsonSchema >
                ::json_schema(__generator)), ::tidings::__private::support::schema("bye",
                ::core::option::Option::None, false, ::core::option::Option::None,
                ::tidings::__private::support::null_schema()),
                ::tidings::__private::support::schema("face",
                ::core::option::Option::None, false,
                ::core::option::Option::Some(::tidings::binary::Alphabet::Standard),
                ::tidings::__private::support::bytes_schema(::core::option::Option::None,
                ::core::option::Option::None, & __TIDINGS_BASE64_FACE)),
                ::tidings::__private::support::schema("chime",
                ::core::option::Option::None, false, ::core::option::Option::None, <
                __ChimeData as ::tidings::__private::schemars::JsonSchema >
                ::json_schema(__generator))
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
            #[allow(unused_imports)]
            use ::tidings::__private::{SkipNested as _, ValidateNested as _};
            #[allow(unused_variables)]
            match self {
                Clock::Tick { unix_ms: __f0, zone: __f1 } => {
                    ::tidings::__private::check::range(
                        __f0,
                        ::core::option::Option::Some(1),
                        ::core::option::Option::None,
                        &__at.field("unix_ms"),
                        __report,
                    );
                    (&::tidings::__private::Nested(__f0))
                        .validate_nested(&__at.field("unix_ms"), __report);
                    (&::tidings::__private::Nested(__f1))
                        .validate_nested(&__at.field("zone"), __report);
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
    fn needs(needs: &mut ::tidings::wiring::Wiring) {
        <Path<String> as ::tidings::FromRequest>::needs(needs);
        let _ = needs;
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
            let __arg0 = <Path<
                String,
            > as ::tidings::FromRequest>::from_request(&mut __cx)
                .await
                .map_err(::tidings::__private::rejection)?;
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
