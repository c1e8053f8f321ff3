//! Parameter Store as the fake models it: descriptors, policies and link records by name, and
//! other accounts' parameters by ARN when shared with this one.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::{FakeCloud, Param, ACCOUNT, REGION};
use crate::aws::{Descriptors, Markers, Owner, StoredParameter, Tier};
use crate::error::{Error, Result};

impl FakeCloud {
    /// A parameter by name, or by ARN when another account shared it with this one.
    fn lookup(&self, op: &'static str, name_or_arn: &str) -> Result<Option<StoredParameter>> {
        let s = self.state.lock().unwrap();
        let Some(name) = local_name(name_or_arn) else {
            return match s.shared.get(name_or_arn) {
                Some(value) => Ok(Some(StoredParameter {
                    value: value.clone(),
                    arn: Some(name_or_arn.to_string()),
                })),
                None => Err(Error::aws(
                    op,
                    "AccessDeniedException",
                    format!("User is not authorized to access {name_or_arn}"),
                )),
            };
        };
        Ok(s.params.get(&name).map(|p| StoredParameter {
            value: p.value.clone(),
            arn: Some(crate::arn::Arn::ssm_parameter("aws", REGION, ACCOUNT, &name).to_string()),
        }))
    }
}

fn local_name(name_or_arn: &str) -> Option<String> {
    match crate::arn::Arn::parse(name_or_arn) {
        Ok(arn) if arn.account == ACCOUNT && arn.region == REGION => arn.parameter_name(),
        Ok(_) => None,
        Err(_) => Some(name_or_arn.to_string()),
    }
}

#[async_trait]
impl Descriptors for FakeCloud {
    async fn read(&self, name_or_arn: &str) -> Result<Option<StoredParameter>> {
        self.call("ssm:GetParameter", false).await?;
        self.lookup("ssm:GetParameter", name_or_arn)
    }

    async fn read_many(&self, names_or_arns: &[String]) -> Result<Vec<(String, StoredParameter)>> {
        let mut out = Vec::new();
        for batch in names_or_arns.chunks(10) {
            self.call("ssm:GetParameters", false).await?;
            for asked in batch {
                if let Some(p) = self.lookup("ssm:GetParameters", asked)? {
                    out.push((asked.clone(), p));
                }
            }
        }
        Ok(out)
    }

    async fn owner(&self, name: &str) -> Result<Option<Owner>> {
        self.call("ssm:ListTagsForResource", false).await?;
        let s = self.state.lock().unwrap();
        let p = s.params.get(name).ok_or_else(|| {
            Error::aws(
                "ssm:ListTagsForResource",
                "InvalidResourceId",
                "The resource ID is not valid.",
            )
        })?;
        Ok(Owner::from_tags(&p.tags))
    }

    async fn create(&self, name: &str, value: &str, tier: Tier, owner: &Owner) -> Result<()> {
        self.call("ssm:PutParameter", true).await?;
        let mut s = self.state.lock().unwrap();
        if s.params.contains_key(name) {
            return Err(Error::aws(
                "ssm:PutParameter",
                "ParameterAlreadyExists",
                "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.",
            ));
        }
        s.params.insert(
            name.into(),
            Param {
                value: value.into(),
                tier,
                tags: owner.tags().into_iter().collect(),
            },
        );
        Ok(())
    }

    async fn overwrite(&self, name: &str, value: &str, tier: Tier) -> Result<()> {
        self.call("ssm:PutParameter", true).await?;
        let mut s = self.state.lock().unwrap();
        let p = s.params.entry(name.into()).or_insert_with(|| Param {
            value: String::new(),
            tier,
            tags: BTreeMap::new(),
        });
        p.value = value.into();
        p.tier = tier;
        Ok(())
    }

    async fn delete(&self, name: &str) -> Result<()> {
        self.call("ssm:DeleteParameter", true).await?;
        self.state.lock().unwrap().params.remove(name);
        Ok(())
    }

    async fn list(&self, path: &str) -> Result<Vec<(String, String)>> {
        self.call("ssm:GetParametersByPath", false).await?;
        let prefix = format!("{}/", path.trim_end_matches('/'));
        let s = self.state.lock().unwrap();
        Ok(s.params
            .iter()
            .filter(|(name, _)| name.starts_with(&prefix))
            .map(|(name, p)| (name.clone(), p.value.clone()))
            .collect())
    }
}

/// Markers expire as Parameter Store's Expiration policy makes them: gone once their time passed.
#[async_trait]
impl Markers for FakeCloud {
    async fn mark(&self, name: &str, value: &str, expires: std::time::SystemTime) -> Result<bool> {
        self.call("ssm:PutParameter", true).await?;
        let mut s = self.state.lock().unwrap();
        s.markers
            .retain(|_, (_, at)| *at > std::time::SystemTime::now());
        if s.markers.contains_key(name) {
            return Ok(false);
        }
        s.markers.insert(name.into(), (value.into(), expires));
        Ok(true)
    }

    async fn marked(&self, name: &str) -> Result<Option<String>> {
        self.call("ssm:GetParameter", false).await?;
        let s = self.state.lock().unwrap();
        Ok(s.markers
            .get(name)
            .filter(|(_, at)| *at > std::time::SystemTime::now())
            .map(|(v, _)| v.clone()))
    }
}
