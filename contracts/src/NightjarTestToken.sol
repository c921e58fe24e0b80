// SPDX-License-Identifier: AGPL-3.0-only
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title A stake token for devnets and tests
/// @notice A plain ERC-20 (18 decimals) whose whole supply is minted by the constructor: `amountEach` to each of
/// `holders`. It has no owner and can never be minted again. Not for real networks.
contract NightjarTestToken is ERC20 {
    /// @param holders the addresses that receive tokens (for a devnet: its funded dev accounts).
    /// @param amountEach what each of them receives, in the smallest unit (10^18 per token).
    constructor(address[] memory holders, uint256 amountEach) ERC20("Nightjar Test Token", "tNJT") {
        for (uint256 i = 0; i < holders.length; i++) {
            _mint(holders[i], amountEach);
        }
    }
}
