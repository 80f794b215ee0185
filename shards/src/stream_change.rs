//! Changes to a live stream's settings: retention and tags. Each change is checked
//! against Kinesis's rules here and applied by the writer, so changes to one stream are
//! serialised and a rejected change writes nothing.

use std::collections::BTreeMap;

use crate::error::InvalidArgument;
use crate::limits::{
    self, MAX_TAGS_PER_CALL, MAX_TAGS_PER_STREAM, MAX_TAG_KEY_CHARS, MAX_TAG_VALUE_CHARS,
};
use crate::stream::StreamMeta;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamChange {
    /// Kinesis's IncreaseStreamRetentionPeriod: the new value may not be lower.
    IncreaseRetention { hours: u32 },
    /// Kinesis's DecreaseStreamRetentionPeriod: the new value may not be higher.
    DecreaseRetention { hours: u32 },
    /// Adds or overwrites tags.
    AddTags(BTreeMap<String, String>),
    /// Removes tags; unknown keys are ignored, as in Kinesis.
    RemoveTags(Vec<String>),
}

impl StreamChange {
    /// The stream's settings after this change, or why it is refused.
    pub fn apply(&self, meta: &StreamMeta) -> Result<StreamMeta, InvalidArgument> {
        let mut next = meta.clone();
        match self {
            StreamChange::IncreaseRetention { hours } => {
                limits::check_retention_hours("retention_period_hours", *hours)?;
                if *hours < meta.retention_hours {
                    return Err(InvalidArgument::new(
                        "retention_period_hours",
                        format!(
                            "{hours} is lower than the stream's retention of {} hours; use DecreaseStreamRetentionPeriod",
                            meta.retention_hours
                        ),
                    ));
                }
                next.retention_hours = *hours;
            }
            StreamChange::DecreaseRetention { hours } => {
                limits::check_retention_hours("retention_period_hours", *hours)?;
                if *hours > meta.retention_hours {
                    return Err(InvalidArgument::new(
                        "retention_period_hours",
                        format!(
                            "{hours} is higher than the stream's retention of {} hours; use IncreaseStreamRetentionPeriod",
                            meta.retention_hours
                        ),
                    ));
                }
                next.retention_hours = *hours;
            }
            StreamChange::AddTags(tags) => {
                if tags.is_empty() || tags.len() > MAX_TAGS_PER_CALL {
                    return Err(InvalidArgument::new(
                        "tags",
                        format!(
                            "must hold 1 to {MAX_TAGS_PER_CALL} tags, got {}",
                            tags.len()
                        ),
                    ));
                }
                for (key, value) in tags {
                    check_tag(key, value)?;
                    next.tags.insert(key.clone(), value.clone());
                }
                if next.tags.len() > MAX_TAGS_PER_STREAM {
                    return Err(InvalidArgument::new(
                        "tags",
                        format!(
                            "a stream holds at most {MAX_TAGS_PER_STREAM} tags; this would make {}",
                            next.tags.len()
                        ),
                    ));
                }
            }
            StreamChange::RemoveTags(keys) => {
                if keys.is_empty() || keys.len() > MAX_TAGS_PER_CALL {
                    return Err(InvalidArgument::new(
                        "tag_keys",
                        format!(
                            "must hold 1 to {MAX_TAGS_PER_CALL} keys, got {}",
                            keys.len()
                        ),
                    ));
                }
                for key in keys {
                    check_tag(key, "")?;
                    next.tags.remove(key);
                }
            }
        }
        Ok(next)
    }
}

fn check_tag(key: &str, value: &str) -> Result<(), InvalidArgument> {
    let key_chars = key.chars().count();
    if key_chars == 0 || key_chars > MAX_TAG_KEY_CHARS {
        return Err(InvalidArgument::new(
            "tag key",
            format!("must be 1 to {MAX_TAG_KEY_CHARS} characters, got {key_chars}"),
        ));
    }
    let value_chars = value.chars().count();
    if value_chars > MAX_TAG_VALUE_CHARS {
        return Err(InvalidArgument::new(
            format!("tag `{key}` value"),
            format!("must be at most {MAX_TAG_VALUE_CHARS} characters, got {value_chars}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> StreamMeta {
        StreamMeta::with_even_shards(1, "s".into(), 48, 0, 1)
    }

    #[test]
    fn retention_moves_only_in_the_named_direction() {
        let up = StreamChange::IncreaseRetention { hours: 72 }
            .apply(&meta())
            .unwrap();
        assert_eq!(up.retention_hours, 72);
        assert!(StreamChange::IncreaseRetention { hours: 24 }
            .apply(&meta())
            .is_err());
        assert!(StreamChange::DecreaseRetention { hours: 72 }
            .apply(&meta())
            .is_err());
        assert!(StreamChange::DecreaseRetention { hours: 23 }
            .apply(&meta())
            .is_err());
        let down = StreamChange::DecreaseRetention { hours: 24 }
            .apply(&meta())
            .unwrap();
        assert_eq!(down.retention_hours, 24);
    }

    #[test]
    fn tags_are_bounded() {
        let tagged = StreamChange::AddTags([("team".to_string(), "a".to_string())].into())
            .apply(&meta())
            .unwrap();
        assert_eq!(tagged.tags.get("team").map(String::as_str), Some("a"));
        let removed = StreamChange::RemoveTags(vec!["team".into(), "absent".into()])
            .apply(&tagged)
            .unwrap();
        assert!(removed.tags.is_empty());
        let too_many: BTreeMap<_, _> = (0..11).map(|i| (format!("k{i}"), String::new())).collect();
        assert!(StreamChange::AddTags(too_many).apply(&meta()).is_err());
        let long_key = [("k".repeat(129), String::new())].into();
        assert!(StreamChange::AddTags(long_key).apply(&meta()).is_err());
        let mut full = meta();
        full.tags = (0..50).map(|i| (format!("k{i}"), String::new())).collect();
        let one_more = [("extra".to_string(), String::new())].into();
        let err = StreamChange::AddTags(one_more).apply(&full).unwrap_err();
        assert!(err.to_string().contains("at most 50"), "{err}");
    }
}
