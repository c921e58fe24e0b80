// SPDX-License-Identifier: AGPL-3.0-only
pragma solidity 0.8.30;

/// @title The message a node key signs to be registered (docs/PROTOCOL.md §13.2)
/// @notice A Nightjar labelled signature signs `[len(label)] ‖ label ‖ data`. For a registration the label is
/// `nightjar/v1/node-registration` (29 bytes) and the data is
/// `chainId (uint256, 32 bytes BE) ‖ registry (20) ‖ operator (20) ‖ ed25519Key (32) ‖ nonce (uint256, 32 bytes BE)`,
/// 166 bytes in all. The contract never verifies the Ed25519 signature (the EVM has no cheap Ed25519); every
/// follower does. This library builds the same bytes on-chain so that tools and tests can check their encoding.
library RegistrationMessage {
    /// The label of the labelled signature.
    string internal constant LABEL = "nightjar/v1/node-registration";

    /// Length of the whole signed message: 1 + 29 + 32 + 20 + 20 + 32 + 32.
    uint256 internal constant LENGTH = 166;

    /// The signed message of a registration of `ed25519Key` by `operator` in the registry at `registry` on chain
    /// `chainId`, with the operator's registration nonce `nonce`.
    function build(uint256 chainId, address registry, address operator, bytes32 ed25519Key, uint256 nonce)
        internal
        pure
        returns (bytes memory)
    {
        return abi.encodePacked(uint8(bytes(LABEL).length), LABEL, chainId, registry, operator, ed25519Key, nonce);
    }
}
