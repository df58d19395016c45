//! The `--execution-client-rpc-endpoint` flag that `dkg` and `verify` share.

use crate::dkg::erc1271::{Erc1271Error, ExecutionClient};

/// The execution client asked about contract-wallet signatures.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ExecutionClientArgs {
    /// JSON-RPC URL of an execution client (e.g. http://127.0.0.1:8545).
    /// Needed only when an operator or the creator signed with a
    /// smart-contract wallet such as a Safe: a signature that is not a valid
    /// EOA signature is then checked with an ERC-1271 isValidSignature call
    /// to the signer's address. Without it, such signatures are rejected.
    #[arg(
        long,
        env = "CHARON_EXECUTION_CLIENT_RPC_ENDPOINT",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub execution_client_rpc_endpoint: Option<String>,
}

impl ExecutionClientArgs {
    /// The client for the endpoint, if one is set.
    pub fn client(&self) -> Result<Option<ExecutionClient>, Erc1271Error> {
        ExecutionClient::optional(self.execution_client_rpc_endpoint.as_deref())
    }
}
