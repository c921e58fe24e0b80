// SPDX-License-Identifier: AGPL-3.0-only
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// A token that, once armed, calls `target` with `callData` in the middle of its next transfer (as an ERC-777 or
/// ERC-1363 style hook of a hostile token would), and bubbles up the call's revert.
contract ReentrantToken is ERC20 {
    address private _target;
    bytes private _callData;
    bool private _armed;

    constructor(address holder, uint256 amount) ERC20("Reentrant", "REENTER") {
        _mint(holder, amount);
    }

    function arm(address target, bytes calldata callData) external {
        _target = target;
        _callData = callData;
        _armed = true;
    }

    function disarm() external {
        _armed = false;
    }

    function _update(address from, address to, uint256 value) internal override {
        if (_armed) {
            _armed = false;
            (bool ok, bytes memory ret) = _target.call(_callData);
            if (!ok) {
                assembly ("memory-safe") {
                    revert(add(ret, 32), mload(ret))
                }
            }
        }
        super._update(from, to, value);
    }
}

/// A token that burns 1 % of every transfer (a fee-on-transfer token).
contract FeeToken is ERC20 {
    constructor(address holder, uint256 amount) ERC20("Fee", "FEE") {
        _mint(holder, amount);
    }

    function _update(address from, address to, uint256 value) internal override {
        if (from != address(0) && to != address(0)) {
            uint256 fee = value / 100;
            super._update(from, address(0), fee);
            value -= fee;
        }
        super._update(from, to, value);
    }
}
