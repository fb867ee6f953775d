//! [`Update`]: what a publisher sends and the store keeps, and the one id
//! generator ([`generate_id`]).

/// One published update, as the store keeps it and fan-out delivers it.
///
/// Server code builds one with [`Update::new`] and the builder methods, and
/// publishes it with [`Hub::publish_update`](crate::Hub::publish_update):
///
/// ```
/// use sse_hub::Update;
///
/// let update = Update::new(["https://example.com/orders/42"], r#"{"status":"shipped"}"#)
///     .private()
///     .with_id("order-42-shipped")
///     .with_type("order");
/// assert_eq!(update.topics, ["https://example.com/orders/42"]);
/// assert!(update.private);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update {
    /// The update's id: the publisher's, or a generated `urn:uuid:…`. Sent
    /// as the SSE `id:` and used as the reconnection cursor.
    pub id: String,
    /// The topics, never empty. The first is canonical, the rest alternates;
    /// a subscriber receives the update when any topic matches.
    pub topics: Vec<String>,
    /// The data, passed through unchanged (may be empty).
    pub data: String,
    /// Private updates go only to subscribers authorized for one of the topics.
    pub private: bool,
    /// The SSE `event:` type, if any.
    pub event_type: Option<String>,
    /// The SSE `retry:` value in milliseconds, if any.
    pub retry: Option<u64>,
}

impl Update {
    /// A public update of `data` on `topics` (the first is canonical, the
    /// rest alternates), with no id yet (the hub generates one), no type
    /// and no `retry`.
    pub fn new<T: Into<String>>(
        topics: impl IntoIterator<Item = T>,
        data: impl Into<String>,
    ) -> Self {
        Update {
            id: String::new(),
            topics: topics.into_iter().map(Into::into).collect(),
            data: data.into(),
            private: false,
            event_type: None,
            retry: None,
        }
    }

    /// Makes the update private: only subscribers authorized for one of
    /// its topics receive it (M11).
    #[must_use]
    pub fn private(mut self) -> Self {
        self.private = true;
        self
    }

    /// Sets the id (instead of a generated one). Publishing an id that is
    /// already in history is a repeat of that publish.
    #[must_use]
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// Sets the SSE `event:` type.
    #[must_use]
    pub fn with_type(mut self, event_type: impl Into<String>) -> Self {
        self.event_type = Some(event_type.into());
        self
    }

    /// Sets the SSE `retry:` value, in milliseconds.
    #[must_use]
    pub fn with_retry(mut self, retry_ms: u64) -> Self {
        self.retry = Some(retry_ms);
        self
    }
}

/// A fresh update id: `urn:uuid:` and a random (v4) UUID (M18, M34),
/// unique across nodes without coordination. The hub's only id generator:
/// updates, subscriber ids and stores all use it.
pub fn generate_id() -> String {
    uuid::Uuid::new_v4().urn().to_string()
}
