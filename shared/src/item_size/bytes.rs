//! The sizes DynamoDB counts: an item, an attribute value, a number.

use serde_json::Value;

use crate::layout::JsonItem;

/// The size DynamoDB counts for an item.
pub fn item_bytes(item: &JsonItem) -> usize {
    item.iter()
        .map(|(name, v)| name.len() + value_bytes(v))
        .sum()
}

/// The size of one attribute value.
pub fn value_bytes(value: &Value) -> usize {
    match value {
        Value::Null | Value::Bool(_) => 1,
        Value::String(s) => s.len(),
        Value::Number(n) => number_bytes(&n.to_string()),
        Value::Array(items) => 3 + items.iter().map(|v| 1 + value_bytes(v)).sum::<usize>(),
        Value::Object(map) => {
            3 + map
                .iter()
                .map(|(name, v)| 1 + name.len() + value_bytes(v))
                .sum::<usize>()
        }
    }
}

pub(super) fn number_bytes(text: &str) -> usize {
    let mantissa = text.split(['e', 'E']).next().unwrap_or_default();
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    significant.div_ceil(2) + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sizes_follow_dynamodb_rules() {
        // Strings: UTF-8 bytes, names included.
        let item = json!({"ab": "héllo"}).as_object().cloned().unwrap();
        assert_eq!(item_bytes(&item), 2 + 6);
        // Numbers: one byte per two significant digits, plus one.
        assert_eq!(value_bytes(&json!(7)), 2);
        assert_eq!(value_bytes(&json!(12345)), 4);
        assert_eq!(value_bytes(&json!(1000)), 2, "trailing zeroes trimmed");
        assert_eq!(value_bytes(&json!(0.00125)), 3, "leading zeroes trimmed");
        assert_eq!(value_bytes(&json!(1_715_652_845_913_i64)), 8);
        // Booleans and null: one byte.
        assert_eq!(value_bytes(&json!(true)), 1);
        assert_eq!(value_bytes(&Value::Null), 1);
        // Lists and maps: 3 bytes, and one more per element.
        assert_eq!(value_bytes(&json!([])), 3);
        assert_eq!(value_bytes(&json!(["a", "bc"])), 3 + (1 + 1) + (1 + 2));
        assert_eq!(value_bytes(&json!({"k": "v"})), 3 + 1 + 1 + 1);
    }
}
