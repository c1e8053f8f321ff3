//! Security groups as the fake models them: duplicate rules refused, AWS's default egress on a
//! new group, in-use groups can't be deleted.

use async_trait::async_trait;

use super::consumer::{new_id, FakeGroup};
use super::FakeCloud;
use crate::aws::{EgressRule, IngressRule, SecurityGroup, SecurityGroups};
use crate::error::{Error, Result};

#[async_trait]
impl SecurityGroups for FakeCloud {
    async fn groups_tagged(&self, key: &str, value: &str) -> Result<Vec<SecurityGroup>> {
        let all = self.groups_with_tag(key).await?;
        Ok(all
            .into_iter()
            .filter(|(v, _)| v == value)
            .map(|(_, g)| g)
            .collect())
    }

    async fn groups_with_tag(&self, key: &str) -> Result<Vec<(String, SecurityGroup)>> {
        self.call("ec2:DescribeSecurityGroups", false).await?;
        let s = self.state.lock().unwrap();
        Ok(s.groups
            .values()
            .filter_map(|g| Some((g.tags.get(key)?.clone(), g.group.clone())))
            .collect())
    }

    async fn create_group(
        &self,
        vpc_id: &str,
        name: &str,
        _description: &str,
        tags: &[(String, String)],
    ) -> Result<String> {
        const OP: &str = "ec2:CreateSecurityGroup";
        self.call(OP, true).await?;
        let mut s = self.state.lock().unwrap();
        if s.groups
            .values()
            .any(|g| g.name == name && g.group.vpc_id == vpc_id)
        {
            return Err(Error::aws(
                OP,
                "InvalidGroup.Duplicate",
                format!("The security group '{name}' already exists for VPC '{vpc_id}'"),
            ));
        }
        let id = new_id(&mut s, "sg");
        s.groups.insert(
            id.clone(),
            FakeGroup {
                group: SecurityGroup {
                    id: id.clone(),
                    vpc_id: vpc_id.to_string(),
                    rules: Vec::new(),
                    // As AWS: every new group may send anything anywhere.
                    egress: vec![EgressRule::aws_default()],
                },
                name: name.to_string(),
                tags: tags.iter().cloned().collect(),
            },
        );
        Ok(id)
    }

    async fn authorize(&self, group_id: &str, rules: &[IngressRule]) -> Result<()> {
        const OP: &str = "ec2:AuthorizeSecurityGroupIngress";
        self.call(OP, true).await?;
        let mut s = self.state.lock().unwrap();
        let g = s
            .groups
            .get_mut(group_id)
            .ok_or_else(|| no_group(OP, group_id))?;
        if rules.iter().any(|r| g.group.rules.contains(r)) {
            return Err(Error::aws(
                OP,
                "InvalidPermission.Duplicate",
                "the specified rule already exists",
            ));
        }
        g.group.rules.extend(rules.iter().cloned());
        Ok(())
    }

    async fn revoke(&self, group_id: &str, rules: &[IngressRule]) -> Result<()> {
        self.change_group("ec2:RevokeSecurityGroupIngress", group_id, |g| {
            g.rules.retain(|r| !rules.contains(r))
        })
        .await
    }

    async fn group(&self, group_id: &str) -> Result<Option<SecurityGroup>> {
        self.call("ec2:DescribeSecurityGroups", false).await?;
        let s = self.state.lock().unwrap();
        Ok(s.groups.get(group_id).map(|g| g.group.clone()))
    }

    async fn revoke_egress(&self, group_id: &str, rules: &[EgressRule]) -> Result<()> {
        self.change_group("ec2:RevokeSecurityGroupEgress", group_id, |g| {
            g.egress.retain(|r| !rules.contains(r))
        })
        .await
    }

    async fn delete_group(&self, group_id: &str) -> Result<()> {
        const OP: &str = "ec2:DeleteSecurityGroup";
        self.call(OP, true).await?;
        let mut s = self.state.lock().unwrap();
        let in_use = s.endpoints.values().any(|e| {
            e.endpoint.state != "deleted"
                && e.endpoint.security_group_ids.iter().any(|g| g == group_id)
        });
        if in_use {
            return Err(Error::aws(
                OP,
                "DependencyViolation",
                format!("resource {group_id} has a dependent object"),
            ));
        }
        s.groups.remove(group_id);
        Ok(())
    }
}

impl FakeCloud {
    /// One mutating call `op` that changes a group (which must exist).
    async fn change_group(
        &self,
        op: &'static str,
        group_id: &str,
        change: impl FnOnce(&mut SecurityGroup),
    ) -> Result<()> {
        self.call(op, true).await?;
        let mut s = self.state.lock().unwrap();
        let g = s
            .groups
            .get_mut(group_id)
            .ok_or_else(|| no_group(op, group_id))?;
        change(&mut g.group);
        Ok(())
    }
}

fn no_group(op: &'static str, id: &str) -> Error {
    Error::aws(
        op,
        "InvalidGroup.NotFound",
        format!("The security group '{id}' does not exist"),
    )
}
