//! `azure-emulator`: parse the command line, start the emulator library, print the
//! endpoint JSON line, wait for SIGTERM/SIGINT, shut down cleanly. Every error becomes one
//! line on stderr and exit status 1; nothing here implements behaviour.

use std::net::SocketAddr;
use std::path::PathBuf;

use azure_emulator::{BackendKind, EmulatorOptions, DEFAULT_IMAGE_DIR};
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "azure-emulator",
    version,
    about = "A local stand-in for Azure's management APIs: the classic Service Management API (client certificates, ASM XML) and Azure Resource Manager (bearer tokens, JSON), with VMs that are real hosts"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum Backend {
    /// Roles exist only as state (they reach ReadyRole; nothing listens on endpoints).
    None,
    /// Roles are systemd-nspawn containers reachable through VIP:PublicPort (needs root).
    Container,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the API until SIGTERM/SIGINT.
    Serve {
        /// Directory for state.json, the generated CA (ca.pem) and server certificate,
        /// endpoint.json and VM data. Reused on restart (everything is kept).
        #[arg(long, value_name = "DIR")]
        state_dir: PathBuf,
        /// Address to listen on; port 0 picks a free port (see endpoint.json / stdout).
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Register a subscription and its management certificate (PEM or DER .cer);
        /// repeat for more subscriptions. Clients must present this certificate.
        #[arg(long = "subscription", value_name = "ID=PATH", required = true)]
        subscriptions: Vec<String>,
        /// VM backend.
        #[arg(long, value_enum, default_value = "none")]
        backend: Backend,
        /// Container backend: bind one host directory per virtual network as /home in its
        /// VMs (stand-in for an NFS-exported /home).
        #[arg(long)]
        shared_home: bool,
        /// Container backend: image cache directory.
        #[arg(long, value_name = "DIR", default_value = DEFAULT_IMAGE_DIR)]
        image_dir: PathBuf,
        /// Multiply every modelled Azure duration by F (e.g. 0.01 for tests, 1 = Azure's pace).
        #[arg(long, value_name = "F", default_value_t = 1.0)]
        time_scale: f64,
        /// Fault injection rates, e.g. "internal=0.05,busy=0.02,throttle=0.02,conflict=0.05,opfail=0.1,hang=0.01,hang_secs=120,vmfail=0.1"
        /// (any subset; rates in [0,1]; optional seed=N). Change at runtime with POST /_emulator/faults.
        #[arg(long, value_name = "SPEC", default_value = "")]
        faults: String,
        /// Seed for fault decisions (same seed + same requests = same faults).
        #[arg(long, value_name = "N", default_value_t = 0)]
        seed: u64,
        /// Core quota per subscription (sum of role-size cores; Small = 1).
        #[arg(long, value_name = "N", default_value_t = 100)]
        max_cores: u32,
        /// Hosted (cloud) service quota per subscription.
        #[arg(long, value_name = "N", default_value_t = 20)]
        max_hosted_services: u32,
        /// Storage account quota per subscription.
        #[arg(long, value_name = "N", default_value_t = 100)]
        max_storage_accounts: u32,
        /// Azure Resource Manager face: a tenant its token endpoint knows (repeatable).
        #[arg(long = "arm-tenant", value_name = "TENANT")]
        arm_tenants: Vec<String>,
        /// Azure Resource Manager face: a service principal, `ID=SECRET` or `ID=@FILE` (the
        /// secret is FILE's content, trailing newline removed); repeatable. Any registered
        /// client may use every subscription.
        #[arg(long = "arm-client", value_name = "ID=SECRET|ID=@FILE")]
        arm_clients: Vec<String>,
    },
    /// Build (or reuse when the recipe is unchanged) a VM image for the container backend.
    BuildImage {
        /// Image name (as used in SourceImageName).
        name: String,
        /// Image cache directory.
        #[arg(long, value_name = "DIR", default_value = DEFAULT_IMAGE_DIR)]
        image_dir: PathBuf,
        /// Rebuild even if the cached image matches the recipe.
        #[arg(long)]
        force: bool,
    },
}

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("azure-emulator: {msg}");
    std::process::exit(1);
}

fn main() {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.cmd {
        Cmd::BuildImage {
            name,
            image_dir,
            force,
        } => {
            use azure_emulator::vm::container::{build_image, ImageOptions};
            match build_image(&ImageOptions {
                name,
                image_dir,
                force,
            }) {
                Ok(p) => println!("{}", p.display()),
                Err(e) => fail(e),
            }
        }
        Cmd::Serve {
            state_dir,
            listen,
            subscriptions,
            backend,
            shared_home,
            image_dir,
            time_scale,
            faults,
            seed,
            max_cores,
            max_hosted_services,
            max_storage_accounts,
            arm_tenants,
            arm_clients,
        } => {
            let mut clients = Vec::new();
            for c in arm_clients {
                match c.split_once('=') {
                    Some((id, secret)) if !id.is_empty() && !secret.is_empty() => {
                        let secret = match secret.strip_prefix('@') {
                            Some(path) => match std::fs::read_to_string(path) {
                                Ok(s) => s.trim_end_matches(['\n', '\r']).to_string(),
                                Err(e) => fail(format!(
                                    "--arm-client {id}=@{path}: cannot read the secret file: {e}"
                                )),
                            },
                            None => secret.to_string(),
                        };
                        if secret.is_empty() {
                            fail(format!("--arm-client {id}: the secret is empty"));
                        }
                        clients.push((id.to_string(), secret));
                    }
                    _ => fail(
                        "--arm-client needs ID=SECRET or ID=@FILE (client id = its secret, or the file holding it)",
                    ),
                }
            }
            let mut subs = Vec::new();
            for s in subscriptions {
                match s.split_once('=') {
                    Some((id, path)) if !id.is_empty() && !path.is_empty() => {
                        subs.push((id.to_string(), PathBuf::from(path)))
                    }
                    _ => fail(format!(
                        "--subscription `{s}` is not ID=PATH (subscription id = management certificate file)"
                    )),
                }
            }
            let opts = EmulatorOptions {
                state_dir,
                listen,
                subscriptions: subs,
                backend: match backend {
                    Backend::None => BackendKind::None,
                    Backend::Container => BackendKind::Container,
                },
                shared_home,
                image_dir,
                time_scale,
                faults,
                seed,
                max_cores,
                max_hosted_services,
                max_storage_accounts,
                custom_backend: None,
                arm: azure_emulator::arm::ArmCredentials {
                    tenants: arm_tenants,
                    clients,
                },
            };
            let rt = match tokio::runtime::Runtime::new() {
                Ok(rt) => rt,
                Err(e) => fail(format!("cannot start the async runtime: {e}")),
            };
            rt.block_on(async move {
                let emu = match azure_emulator::start(opts).await {
                    Ok(e) => e,
                    Err(e) => fail(e),
                };
                println!("{}", emu.endpoint_json());
                wait_for_signal().await;
                emu.shutdown().await;
            });
        }
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        fail("cannot install signal handlers");
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
