//! [`Update`]: what a publisher sends and the store keeps.

/// One published update, as the store keeps it and fan-out delivers it.
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
