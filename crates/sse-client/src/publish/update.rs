//! [`Update`]: what one publish sends, and its form encoding.

use std::time::Duration;

/// One update to publish: its topics (the first canonical, the others
/// alternates), data, and the optional `private`, `id`, `type` and `retry`
/// fields of the Mercure publish form.
///
/// Setters never fail. The only check made before sending is that there
/// is a topic; the hub checks the rest (character rules, lengths) and
/// answers 400 or 413, reported by
/// [`PublishError::is_bad_request`](crate::PublishError::is_bad_request) and
/// [`is_too_large`](crate::PublishError::is_too_large).
///
/// ```
/// use std::time::Duration;
/// use sse_client::Update;
/// let update = Update::new("https://example.com/books/1")
///     .topic("https://example.com/authors/7") // an alternate topic
///     .data(r#"{"status":"out of stock"}"#)
///     .id("books-1-v42")
///     .event_type("stock")
///     .retry(Duration::from_secs(5))
///     .private(true);
/// assert_eq!(update.explicit_id(), Some("books-1-v42"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use = "an update does nothing until it is published"]
pub struct Update {
    topics: Vec<String>,
    data: String,
    private: bool,
    id: Option<String>,
    event_type: Option<String>,
    retry: Option<Duration>,
}

impl Update {
    /// An update for `topic` (its canonical topic), with empty data.
    pub fn new(topic: impl Into<String>) -> Self {
        Update {
            topics: vec![topic.into()],
            ..Update::default()
        }
    }

    /// Adds a topic (an alternate one, after the canonical topic).
    pub fn topic(mut self, topic: impl Into<String>) -> Self {
        self.topics.push(topic.into());
        self
    }

    /// Adds these topics.
    pub fn topics<I, S>(mut self, topics: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.topics.extend(topics.into_iter().map(Into::into));
        self
    }

    /// Sets the data (the event's `data:`, any text, newlines included).
    pub fn data(mut self, data: impl Into<String>) -> Self {
        self.data = data.into();
        self
    }

    /// Makes the update private (`private=on`): delivered only to
    /// subscribers whose token grants one of its topics.
    pub fn private(mut self, private: bool) -> Self {
        self.private = private;
        self
    }

    /// Sets the update's id instead of letting the hub generate one. An
    /// explicit id is what makes a publish safe to retry (see
    /// [`PublisherBuilder::retries`](crate::PublisherBuilder::retries)).
    /// An empty id counts as none.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        let id = id.into();
        self.id = (!id.is_empty()).then_some(id);
        self
    }

    /// Sets the SSE event type (`type`, the event's `event:`). Empty counts
    /// as none.
    pub fn event_type(mut self, event_type: impl Into<String>) -> Self {
        let t = event_type.into();
        self.event_type = (!t.is_empty()).then_some(t);
        self
    }

    /// Sets the SSE reconnection time sent with the update (`retry`, in
    /// whole milliseconds).
    pub fn retry(mut self, retry: Duration) -> Self {
        self.retry = Some(retry);
        self
    }

    /// The topics, canonical first.
    pub fn topic_list(&self) -> &[String] {
        &self.topics
    }

    /// The explicit id, if one was set.
    pub fn explicit_id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The publish form (`application/x-www-form-urlencoded`, UTF-8):
    /// `topic` once per topic in order, `data` (always, so an empty data is
    /// explicit), then `private=on`, `id`, `type` and `retry` when set.
    pub(crate) fn to_form(&self) -> String {
        let mut form = form_urlencoded::Serializer::new(String::new());
        for t in &self.topics {
            form.append_pair("topic", t);
        }
        form.append_pair("data", &self.data);
        if self.private {
            form.append_pair("private", "on");
        }
        if let Some(id) = &self.id {
            form.append_pair("id", id);
        }
        if let Some(t) = &self.event_type {
            form.append_pair("type", t);
        }
        if let Some(r) = self.retry {
            form.append_pair("retry", &r.as_millis().to_string());
        }
        form.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_is_what_mercure_wants_byte_for_byte() {
        let u = Update::new("https://example.com/books/1")
            .topic("urn:a b&c=d")
            .data("line 1\nline 2 é +%")
            .private(true)
            .id("id#1")
            .event_type("t")
            .retry(Duration::from_millis(2500));
        assert_eq!(
            u.to_form(),
            "topic=https%3A%2F%2Fexample.com%2Fbooks%2F1&topic=urn%3Aa+b%26c%3Dd\
             &data=line+1%0Aline+2+%C3%A9+%2B%25&private=on&id=id%231&type=t&retry=2500"
        );
    }

    #[test]
    fn unset_fields_are_left_out_and_empty_counts_as_unset() {
        let u = Update::new("urn:t").id("").event_type("");
        assert_eq!(u.to_form(), "topic=urn%3At&data=");
        assert_eq!(u.explicit_id(), None);
        let u = Update::default().topics(["a", "b"]);
        assert_eq!(u.topic_list(), ["a", "b"]);
    }
}
