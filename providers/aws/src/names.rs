//! AWS's own name rules, for [`Provider::check_name`](provisio::Provider::check_name) of every
//! AWS provider: Secrets Manager allows path-style names (`tenants/acme/db-password`) that the
//! portable rule refuses because Key Vault does.

use provisio::Result;
use provisio::validate::{self, NameKind};

/// Checks `value` as a name of `kind` by the rules of the AWS service that holds such names.
///
/// ```
/// use provisio::validate::NameKind;
/// use provisio::Provider;
/// # #[cfg(all(feature = "secretsmanager", feature = "s3"))]
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let aws = provisio_aws::Aws::connect(provisio_aws::AwsConfig::for_emulator("http://127.0.0.1:1")).await.unwrap();
/// let secrets = aws.secrets();
/// assert!(secrets.check_name(NameKind::Secret, "name", "tenants/acme/db-password").is_ok());
/// assert!(secrets.check_name(NameKind::Secret, "name", "acme db").is_err());
/// assert!(aws.storage().check_name(NameKind::Bucket, "bucket", "Acme").is_err());
/// # });
/// ```
pub(crate) fn check(kind: NameKind, field: &str, value: &str) -> Result<()> {
    match kind {
        NameKind::Secret => validate::aws_secret_name(field, value),
        NameKind::Bucket => validate::s3_bucket_name(field, value),
        NameKind::ObjectKey => validate::object_key(field, value),
        NameKind::DnsName => validate::dns_name(field, value),
        // RDS holds servers, not roles or databases; those are the PostgreSQL provider's.
        other => validate::portable(other, field, value),
    }
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_rules_not_the_portable_ones() {
        assert!(check(NameKind::Secret, "name", "tenants/acme/db-password").is_ok());
        assert!(check(NameKind::Secret, "name", "acme_db+prod@eu.1").is_ok());
        assert!(validate::portable(NameKind::Secret, "name", "tenants/acme/db").is_err());
        let e = check(NameKind::Secret, "name", "acme db").unwrap_err();
        assert!(e.to_string().contains("invalid name"), "{e}");
        // AWS advises against "-" + six characters at the end (it looks like an ARN's random
        // suffix to lookups by partial ARN) but accepts it
        assert!(check(NameKind::Secret, "name", "acme-abcdef").is_ok());
        // S3 only: dots are fine in S3 bucket names, not in Azure container names
        assert!(check(NameKind::Bucket, "bucket", "acme.assets").is_ok());
        assert!(check(NameKind::Bucket, "bucket", "Acme").is_err());
        assert!(check(NameKind::DnsName, "name", "_dmarc.example.com").is_ok());
    }
}
