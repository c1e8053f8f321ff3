//! AZ names ↔ AZ IDs. Names are shuffled per account; IDs name the physical zone, so everything
//! that crosses accounts uses IDs.

use std::collections::BTreeMap;

use crate::error::{Error, Result};

/// Map AZ names (in the account whose map is given) to sorted, de-duplicated AZ IDs.
pub fn ids_for_names(
    names: &[String],
    ids_by_name: &BTreeMap<String, String>,
) -> Result<Vec<String>> {
    let mut ids = Vec::with_capacity(names.len());
    for name in names {
        let id = ids_by_name.get(name).ok_or_else(|| {
            Error::not_found(
                format!("availability zone {name}"),
                "not in this account's DescribeAvailabilityZones; check the region",
            )
        })?;
        ids.push(id.clone());
    }
    ids.sort();
    ids.dedup();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn names_map_to_sorted_unique_ids() {
        let m = map(&[("us-east-1a", "use1-az4"), ("us-east-1b", "use1-az1")]);
        let names = vec![
            "us-east-1a".to_string(),
            "us-east-1b".into(),
            "us-east-1a".into(),
        ];
        assert_eq!(
            ids_for_names(&names, &m).unwrap(),
            vec!["use1-az1", "use1-az4"]
        );
    }

    #[test]
    fn the_same_name_means_different_ids_in_different_accounts() {
        let a = map(&[("us-east-1a", "use1-az4")]);
        let b = map(&[("us-east-1a", "use1-az1")]);
        let names = vec!["us-east-1a".to_string()];
        assert_ne!(
            ids_for_names(&names, &a).unwrap(),
            ids_for_names(&names, &b).unwrap()
        );
    }

    #[test]
    fn unknown_names_are_errors() {
        let e = ids_for_names(&["eu-west-1a".to_string()], &BTreeMap::new()).unwrap_err();
        assert!(e.to_string().contains("eu-west-1a"));
    }
}
