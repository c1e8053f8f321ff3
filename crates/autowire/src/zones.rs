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

/// A consumer's candidate subnet with its AZ ID in the consumer's account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub subnet_id: String,
    pub az_id: String,
}

/// Keep the candidates whose AZ ID the provider serves, at most one per AZ ID (the first given
/// wins, so the user's order is a preference). When none overlap, the error lists every candidate
/// with its AZ ID next to the provider's AZ IDs, before anything is created.
pub fn select_subnets(
    candidates: &[Candidate],
    provider_az_ids: &[String],
) -> Result<Vec<Candidate>> {
    let mut chosen: Vec<Candidate> = Vec::new();
    for c in candidates {
        if provider_az_ids.contains(&c.az_id) && !chosen.iter().any(|k| k.az_id == c.az_id) {
            chosen.push(c.clone());
        }
    }
    if chosen.is_empty() {
        let listed: Vec<String> = candidates
            .iter()
            .map(|c| format!("{} ({})", c.subnet_id, c.az_id))
            .collect();
        return Err(Error::invalid(
            "SubnetIds",
            format!(
                "no candidate is in an AZ the service serves: {} vs provider AZ IDs {}; add a subnet in one of those AZ IDs",
                listed.join(", "),
                provider_az_ids.join(", ")
            ),
        ));
    }
    Ok(chosen)
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

    fn cand(subnet: &str, az: &str) -> Candidate {
        Candidate {
            subnet_id: subnet.into(),
            az_id: az.into(),
        }
    }

    #[test]
    fn subnets_are_chosen_by_az_id_one_per_zone() {
        let provider = vec!["use1-az1".to_string(), "use1-az4".to_string()];
        let cases: &[(&[Candidate], &[&str])] = &[
            (
                &[
                    cand("a", "use1-az1"),
                    cand("b", "use1-az2"),
                    cand("c", "use1-az4"),
                ],
                &["a", "c"],
            ),
            (&[cand("a", "use1-az1"), cand("b", "use1-az1")], &["a"]),
            (&[cand("b", "use1-az4"), cand("a", "use1-az1")], &["b", "a"]),
        ];
        for (candidates, expected) in cases {
            let got: Vec<String> = select_subnets(candidates, &provider)
                .unwrap()
                .into_iter()
                .map(|c| c.subnet_id)
                .collect();
            assert_eq!(&got, expected);
        }
    }

    #[test]
    fn no_overlap_lists_every_candidate_against_the_provider() {
        let provider = vec!["use1-az1".to_string(), "use1-az4".to_string()];
        let err = select_subnets(
            &[cand("subnet-a", "use1-az2"), cand("subnet-b", "use1-az3")],
            &provider,
        )
        .unwrap_err()
        .reason();
        assert!(
            err.contains(
                "subnet-a (use1-az2), subnet-b (use1-az3) vs provider AZ IDs use1-az1, use1-az4"
            ),
            "{err}"
        );
        assert!(err.chars().count() < 256);
    }
}
