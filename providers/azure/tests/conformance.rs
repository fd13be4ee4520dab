//! The conformance suite against the Azure fakes (DNS, compute, secrets: always run) and
//! Azurite (storage: `PROVISIO_TEST_AZURITE_BLOB_URL`, set by `start_azurite`).

mod common;

mod dns {
    provisio_testkit::dns_conformance! {
        provider: crate::common::azure().dns()?,
        context: provisio_testkit::dns::DnsContext::new(crate::common::ZONE),
    }
}

mod compute {
    provisio_testkit::compute_conformance! {
        provider: crate::common::azure().compute()?,
        context: provisio_testkit::compute::ComputeContext::new(
            "Canonical:ubuntu-24_04-lts:server:latest",
            "Standard_B1s",
        )
        .with_wait_timeout(std::time::Duration::from_secs(30)),
    }
}

mod secrets {
    provisio_testkit::secrets_conformance! {
        provider: crate::common::azure().key_vault()?,
        context: provisio_testkit::secrets::SecretsContext::new("pt-"),
    }
}

mod storage {
    provisio_testkit::storage_conformance! {
        env: blob_url = "AZURITE_BLOB_URL",
        provider: crate::common::azure_with_azurite(&blob_url).blob()?,
        context: provisio_testkit::storage::StorageContext::new("pt-"),
    }
}
