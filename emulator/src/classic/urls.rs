//! The URLs Azure wrote into `Url` elements and `Location` headers: its own management
//! host, never the emulator's address (clients only echo them).

/// Host Azure wrote into `Url` elements and `Location` headers.
pub const AZURE_HOST: &str = "https://management.core.windows.net";

/// `Url` of a hosted service.
pub fn hosted_service(subscription: &str, service: &str) -> String {
    format!("{AZURE_HOST}/{subscription}/services/hostedservices/{service}")
}

/// `CertificateUrl` of a service certificate.
pub fn service_certificate(subscription: &str, service: &str, thumbprint: &str) -> String {
    format!(
        "{}/certificates/sha1-{thumbprint}",
        hosted_service(subscription, service)
    )
}

/// `Url` of a storage account.
pub fn storage_account(subscription: &str, name: &str) -> String {
    format!("{AZURE_HOST}/{subscription}/services/storageservices/{name}")
}

/// `Location` header of Create Hosted Service.
pub fn created_hosted_service(subscription: &str, name: &str) -> String {
    format!("{AZURE_HOST}/subscriptions/{subscription}/compute/{name}")
}

/// `Location` header of Create Storage Account.
pub fn created_storage_account(subscription: &str, name: &str) -> String {
    format!("{AZURE_HOST}/subscriptions/{subscription}/storage/{name}")
}
