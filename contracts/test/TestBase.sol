// SPDX-License-Identifier: AGPL-3.0-only
pragma solidity 0.8.30;

/// The few forge cheatcodes these tests use, declared here because forge-std is not available offline. The
/// signatures are forge's own (see Foundry's cheatcode reference); forge answers calls to `CHEATCODE_ADDRESS`.
interface Vm {
    struct Log {
        bytes32[] topics;
        bytes data;
        address emitter;
    }

    // Environment.
    function prank(address msgSender) external;
    function startPrank(address msgSender) external;
    function stopPrank() external;
    function roll(uint256 newHeight) external;
    function warp(uint256 newTimestamp) external;
    function chainId(uint256 newChainId) external;

    // Expectations.
    function expectRevert() external;
    function expectRevert(bytes4 revertData) external;
    function expectRevert(bytes calldata revertData) external;
    function expectEmit(bool checkTopic1, bool checkTopic2, bool checkTopic3, bool checkData, address emitter) external;
    function recordLogs() external;
    function getRecordedLogs() external returns (Log[] memory logs);

    // Assertions (forge prints both sides on failure).
    function assertEq(uint256 left, uint256 right, string calldata error) external pure;
    function assertEq(address left, address right, string calldata error) external pure;
    function assertEq(bytes32 left, bytes32 right, string calldata error) external pure;
    function assertEq(bytes calldata left, bytes calldata right, string calldata error) external pure;
    function assertEq(bool left, bool right, string calldata error) external pure;
    function assertTrue(bool condition, string calldata error) external pure;

    // Files (foundry.toml grants read access to ../test-vectors only).
    function readFile(string calldata path) external view returns (string memory data);
    function keyExistsJson(string calldata json, string calldata key) external view returns (bool);
    function parseJsonString(string calldata json, string calldata key) external pure returns (string memory);
    function parseJsonBool(string calldata json, string calldata key) external pure returns (bool);
    function parseBytes(string calldata stringifiedValue) external pure returns (bytes memory);
    function toString(uint256 value) external pure returns (string memory);
}

/// Base of the test contracts: the cheatcode handle and small helpers.
abstract contract TestBase {
    /// address(uint160(uint256(keccak256("hevm cheat code"))))
    address internal constant CHEATCODE_ADDRESS = 0x7109709ECfa91a80626fF3989D68f67F5b1DD12D;

    Vm internal constant vm = Vm(CHEATCODE_ADDRESS);

    /// forge runs every public function whose name starts with `test` as a test.
    bool public constant IS_TEST = true;
}
