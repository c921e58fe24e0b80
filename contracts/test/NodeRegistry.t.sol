// SPDX-License-Identifier: AGPL-3.0-only
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {TestBase, Vm} from "./TestBase.sol";
import {ReentrantToken, FeeToken} from "./Mocks.sol";
import {NodeRegistry} from "../src/NodeRegistry.sol";
import {NightjarTestToken} from "../src/NightjarTestToken.sol";
import {RegistrationMessage} from "../src/RegistrationMessage.sol";

/// Tests of what the contract itself enforces. Whether a registration's proof of possession verifies is decided by
/// every follower, not on-chain (docs/PROTOCOL.md §13); these tests check that the events carry everything the
/// follower needs for that, and that the contract lets the follower's rule work (several registrations of one key
/// coexist, nonces make every proof single-use).
contract NodeRegistryTest is TestBase {
    NightjarTestToken internal token;
    NodeRegistry internal registry;

    address internal constant ADMIN = address(0xAD);
    address internal constant TREASURY = address(0x7EA5);
    address internal constant ALICE = address(0xA11CE);
    address internal constant BOB = address(0xB0B);
    address internal constant MALLORY = address(0xBAD);
    address internal constant BROKE = address(0xB40CE);

    uint256 internal constant STAKE = 25_000 ether;
    uint256 internal constant HELD = 100_000_000 ether;
    uint256 internal constant UNBONDING = 7 days;
    uint256 internal constant MIN_AGE = 2 hours;
    uint256 internal constant START = 1_700_000_000;

    bytes32 internal constant KEY = 0xd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a;
    bytes32 internal constant KEY2 = 0x03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8;
    /// 127.0.0.1:40001
    bytes internal constant CONTACT4 = hex"047f0000019c41";
    /// [2001:db8::1]:443
    bytes internal constant CONTACT6 = hex"0620010db800000000000000000000000101bb";
    /// The proof's bytes are opaque to the contract; any 64 bytes do.
    bytes internal constant SIG =
        hex"370021ea736e28f1074a1625854d5074a1c6d1221565c29b3f82b2eaf525e1fb10f0e0b154e74bc0457565a6bc67a3945e17d69125410f3302d8746b93e2e503";
    bytes internal constant JUNK_SIG =
        hex"00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";

    bytes32 internal constant REGISTERED_TOPIC = keccak256("Registered(bytes32,address,bytes,bytes,uint256,uint256)");

    function setUp() public {
        vm.warp(START);
        vm.roll(100);
        address[] memory holders = new address[](3);
        holders[0] = ALICE;
        holders[1] = BOB;
        holders[2] = MALLORY;
        token = new NightjarTestToken(holders, HELD);
        registry = new NodeRegistry(IERC20(address(token)), STAKE, UNBONDING, MIN_AGE, TREASURY, ADMIN);
        for (uint256 i = 0; i < holders.length; i++) {
            vm.prank(holders[i]);
            token.approve(address(registry), type(uint256).max);
        }
        vm.prank(BROKE);
        token.approve(address(registry), type(uint256).max);
    }

    // --------------------------------------------------------------------------------------------------------------
    // Helpers
    // --------------------------------------------------------------------------------------------------------------

    function _register(address operator, bytes32 key) internal returns (uint256) {
        vm.prank(operator);
        return registry.register(key, CONTACT4, SIG);
    }

    function _exit(address operator, bytes32 key) internal {
        vm.warp(block.timestamp + MIN_AGE);
        vm.prank(operator);
        registry.requestExit(key);
    }

    function _stakeOf(bytes32 key, address operator) internal view returns (uint256 stake) {
        (stake,,) = registry.getRegistration(key, operator);
    }

    // --------------------------------------------------------------------------------------------------------------
    // Registration
    // --------------------------------------------------------------------------------------------------------------

    function test_register_pullsTheStakeAndEmitsEverythingAFollowerNeeds() public {
        vm.recordLogs();
        vm.prank(ALICE);
        uint256 nonce = registry.register(KEY, CONTACT4, SIG);

        vm.assertEq(nonce, 0, "first nonce");
        vm.assertEq(registry.nonces(ALICE), 1, "nonce incremented");
        vm.assertEq(token.balanceOf(ALICE), HELD - STAKE, "stake pulled from the operator");
        vm.assertEq(token.balanceOf(address(registry)), STAKE, "stake held by the registry");
        vm.assertEq(registry.activeRegistrations(), 1, "active registrations");
        (uint256 stake, uint256 registeredAt, uint256 exitRequestedAt) = registry.getRegistration(KEY, ALICE);
        vm.assertEq(stake, STAKE, "stored stake");
        vm.assertEq(registeredAt, START, "registration time");
        vm.assertEq(exitRequestedAt, 0, "not exiting");

        Vm.Log[] memory logs = vm.getRecordedLogs();
        uint256 found;
        for (uint256 i = 0; i < logs.length; i++) {
            if (logs[i].emitter != address(registry) || logs[i].topics[0] != REGISTERED_TOPIC) continue;
            found++;
            vm.assertEq(logs[i].topics.length, 3, "two indexed fields");
            vm.assertEq(logs[i].topics[1], KEY, "indexed key");
            vm.assertEq(logs[i].topics[2], bytes32(uint256(uint160(ALICE))), "indexed operator");
            (bytes memory contact, bytes memory signature, uint256 eventNonce, uint256 eventStake) =
                abi.decode(logs[i].data, (bytes, bytes, uint256, uint256));
            vm.assertEq(contact, CONTACT4, "contact");
            vm.assertEq(signature, SIG, "signature, byte for byte");
            vm.assertEq(eventNonce, 0, "nonce");
            vm.assertEq(eventStake, STAKE, "stake");
            // With the chain ID and the emitter's address, the event gives the follower the whole signed message.
            vm.assertEq(
                RegistrationMessage.build(block.chainid, logs[i].emitter, ALICE, KEY, eventNonce),
                registry.registrationMessage(KEY, ALICE, 0),
                "message rebuilt from the event"
            );
        }
        vm.assertEq(found, 1, "one Registered event");
    }

    function test_register_emitsRegistered() public {
        vm.expectEmit(true, true, false, true, address(registry));
        emit NodeRegistry.Registered(KEY, ALICE, CONTACT6, SIG, 0, STAKE);
        vm.prank(ALICE);
        registry.register(KEY, CONTACT6, SIG);
    }

    function test_register_rejectsMalformedContacts() public {
        bytes[] memory bad = new bytes[](11);
        bad[0] = "";
        bad[1] = hex"04";
        bad[2] = hex"047f000001"; // no port
        bad[3] = hex"047f0000019c4100"; // one byte too many
        bad[4] = hex"047f00019c41"; // one byte short
        bad[5] = hex"057f0000019c41"; // unknown family
        bad[6] = hex"067f0000019c41"; // IPv6 family, IPv4 length
        bad[7] = hex"0420010db800000000000000000000000101bb"; // IPv4 family, IPv6 length
        bad[8] = hex"047f0000010000"; // port 0
        bad[9] = hex"0620010db80000000000000000000000010000"; // port 0
        bad[10] = hex"0020010db800000000000000000000000101bb"; // family 0
        for (uint256 i = 0; i < bad.length; i++) {
            vm.expectRevert(NodeRegistry.InvalidContact.selector);
            vm.prank(ALICE);
            registry.register(KEY, bad[i], SIG);
        }
        vm.assertEq(registry.nonces(ALICE), 0, "no nonce used");
    }

    function test_register_rejectsSignaturesThatAreNot64Bytes() public {
        uint256[3] memory lengths = [uint256(0), 63, 65];
        for (uint256 i = 0; i < lengths.length; i++) {
            vm.expectRevert(abi.encodeWithSelector(NodeRegistry.InvalidSignatureLength.selector, lengths[i]));
            vm.prank(ALICE);
            registry.register(KEY, CONTACT4, new bytes(lengths[i]));
        }
    }

    function test_register_rejectsTheZeroKey() public {
        vm.expectRevert(NodeRegistry.InvalidKey.selector);
        vm.prank(ALICE);
        registry.register(bytes32(0), CONTACT4, SIG);
    }

    function test_register_needsAllowanceAndBalance() public {
        address stranger = address(0x5757);
        vm.prank(ALICE);
        vm.assertTrue(token.transfer(stranger, STAKE), "transfer");
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(registry), 0, STAKE)
        );
        vm.prank(stranger);
        registry.register(KEY, CONTACT4, SIG);

        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, BROKE, 0, STAKE));
        vm.prank(BROKE);
        registry.register(KEY, CONTACT4, SIG);
        vm.assertEq(registry.activeRegistrations(), 0, "nothing registered");
        vm.assertEq(registry.nonces(BROKE), 0, "a failed registration uses no nonce");
    }

    function test_register_sameOperatorSameKeyTwiceReverts() public {
        _register(ALICE, KEY);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.AlreadyRegistered.selector, KEY, ALICE));
        vm.prank(ALICE);
        registry.register(KEY, CONTACT6, SIG);
    }

    /// Key squatting. Mallory sees Alice's key (it is public) and registers it first with a junk proof; then Alice
    /// registers it with her real proof. The contract cannot tell the proofs apart, so it keeps both registrations and
    /// emits both events. The follower's rule (docs/PROTOCOL.md §13.4) decides: the earliest registration of a key
    /// *whose proof verifies* becomes the node, here Alice's; Mallory's never does, and all it costs her is her own
    /// stake, locked until she exits and the unbonding period ends. Had Mallory copied Alice's real proof, it would
    /// not verify either: the proof signs the operator's address (and nonce), and hers differs.
    function test_sameKeyByTwoOperators_bothStayOnChain() public {
        vm.recordLogs();
        vm.prank(MALLORY);
        registry.register(KEY, CONTACT4, JUNK_SIG);
        vm.roll(block.number + 1);
        vm.prank(ALICE);
        registry.register(KEY, CONTACT6, SIG);

        vm.assertEq(_stakeOf(KEY, MALLORY), STAKE, "the squatter's registration exists");
        vm.assertEq(_stakeOf(KEY, ALICE), STAKE, "and does not block the owner's");
        vm.assertEq(registry.activeRegistrations(), 2, "both count as active on-chain");

        Vm.Log[] memory logs = vm.getRecordedLogs();
        address[2] memory order = [MALLORY, ALICE];
        uint256 seen;
        for (uint256 i = 0; i < logs.length; i++) {
            if (logs[i].emitter != address(registry) || logs[i].topics[0] != REGISTERED_TOPIC) continue;
            vm.assertEq(logs[i].topics[1], KEY, "same key");
            vm.assertEq(logs[i].topics[2], bytes32(uint256(uint160(order[seen]))), "in call order");
            seen++;
        }
        vm.assertEq(seen, 2, "two Registered events");

        // Neither can touch the other's registration.
        vm.warp(block.timestamp + MIN_AGE);
        vm.prank(MALLORY);
        registry.requestExit(KEY);
        (,, uint256 aliceExit) = registry.getRegistration(KEY, ALICE);
        vm.assertEq(aliceExit, 0, "Alice's registration is still active");
        vm.warp(block.timestamp + UNBONDING);
        vm.prank(MALLORY);
        registry.withdraw(KEY);
        vm.assertEq(token.balanceOf(MALLORY), HELD, "the squatter gets her stake back, and nothing else");
        vm.assertEq(_stakeOf(KEY, ALICE), STAKE, "Alice's stake is untouched");
    }

    function test_nonces_countEveryRegistrationOfAnOperator() public {
        vm.assertEq(_register(ALICE, KEY), 0, "first");
        vm.assertEq(_register(ALICE, KEY2), 1, "second");
        vm.assertEq(_register(BOB, KEY), 0, "per operator");
        vm.assertEq(registry.nonces(ALICE), 2, "Alice's next");
        vm.assertEq(registry.nonces(BOB), 1, "Bob's next");

        // After a withdrawal the same operator may register the same key again, but with a new nonce: the proof of
        // the first registration (nonce 0) does not verify for it, so the key's owner must sign again.
        _exit(ALICE, KEY);
        vm.warp(block.timestamp + UNBONDING);
        vm.prank(ALICE);
        registry.withdraw(KEY);
        vm.expectEmit(true, true, false, true, address(registry));
        emit NodeRegistry.Registered(KEY, ALICE, CONTACT4, SIG, 2, STAKE);
        _register(ALICE, KEY);
        vm.assertEq(registry.nonces(ALICE), 3, "incremented again");
    }

    function test_registrationMessage_layout() public {
        vm.chainId(31337);
        bytes memory m = registry.registrationMessage(KEY, ALICE, 5);
        vm.assertEq(m.length, 166, "length");
        vm.assertEq(m, RegistrationMessage.build(31337, address(registry), ALICE, KEY, 5), "builder");
        vm.assertEq(
            m,
            abi.encodePacked(
                hex"1d", "nightjar/v1/node-registration", uint256(31337), address(registry), ALICE, KEY, uint256(5)
            ),
            "spelled out"
        );
    }

    /// The on-chain builder and the Rust one (crates/nightjar-crypto, registration.rs) agree on every vector.
    function test_registrationMessage_matchesTheTestVectors() public view {
        string memory json = vm.readFile("../test-vectors/registration.json");
        uint256 n;
        for (; vm.keyExistsJson(json, string.concat(".cases[", vm.toString(n), "]")); n++) {
            string memory at = string.concat(".cases[", vm.toString(n), "].");
            bytes memory built = RegistrationMessage.build(
                uint256(bytes32(_hexField(json, at, "chain_id"))),
                address(bytes20(_hexField(json, at, "contract"))),
                address(bytes20(_hexField(json, at, "operator"))),
                bytes32(_hexField(json, at, "node_key")),
                uint256(bytes32(_hexField(json, at, "nonce")))
            );
            vm.assertEq(
                built, _hexField(json, at, "signed_message"), vm.parseJsonString(json, string.concat(at, "name"))
            );
        }
        vm.assertTrue(n >= 8, "all vectors read");
    }

    function _hexField(string memory json, string memory at, string memory field) internal pure returns (bytes memory) {
        return vm.parseBytes(string.concat("0x", vm.parseJsonString(json, string.concat(at, field))));
    }

    // --------------------------------------------------------------------------------------------------------------
    // Contact updates
    // --------------------------------------------------------------------------------------------------------------

    function test_updateContact_byTheOperatorOnly() public {
        _register(ALICE, KEY);
        vm.expectEmit(true, true, false, true, address(registry));
        emit NodeRegistry.ContactUpdated(KEY, ALICE, CONTACT6);
        vm.prank(ALICE);
        registry.updateContact(KEY, CONTACT6);

        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.NotRegistered.selector, KEY, BOB));
        vm.prank(BOB);
        registry.updateContact(KEY, CONTACT4);

        vm.expectRevert(NodeRegistry.InvalidContact.selector);
        vm.prank(ALICE);
        registry.updateContact(KEY, hex"047f00000100");

        // Still allowed while exiting (the node hands its data off), not after the withdrawal.
        _exit(ALICE, KEY);
        vm.prank(ALICE);
        registry.updateContact(KEY, CONTACT4);
        vm.warp(block.timestamp + UNBONDING);
        vm.prank(ALICE);
        registry.withdraw(KEY);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.NotRegistered.selector, KEY, ALICE));
        vm.prank(ALICE);
        registry.updateContact(KEY, CONTACT4);
    }

    // --------------------------------------------------------------------------------------------------------------
    // Exit, unbonding, withdrawal
    // --------------------------------------------------------------------------------------------------------------

    function test_requestExit_waitsForTheMinimumAge() public {
        _register(ALICE, KEY);
        vm.warp(START + MIN_AGE - 1);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.TooYoungToExit.selector, START + MIN_AGE));
        vm.prank(ALICE);
        registry.requestExit(KEY);

        vm.warp(START + MIN_AGE);
        vm.expectEmit(true, true, false, true, address(registry));
        emit NodeRegistry.ExitRequested(KEY, ALICE, START + MIN_AGE + UNBONDING);
        vm.prank(ALICE);
        registry.requestExit(KEY);
        vm.assertEq(registry.activeRegistrations(), 0, "no longer active");
        (,, uint256 exitRequestedAt) = registry.getRegistration(KEY, ALICE);
        vm.assertEq(exitRequestedAt, START + MIN_AGE, "exit time");

        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.ExitAlreadyRequested.selector, KEY, ALICE));
        vm.prank(ALICE);
        registry.requestExit(KEY);
    }

    function test_requestExit_byAnotherOperatorReverts() public {
        _register(ALICE, KEY);
        vm.warp(START + MIN_AGE);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.NotRegistered.selector, KEY, BOB));
        vm.prank(BOB);
        registry.requestExit(KEY);
    }

    function test_withdraw_afterTheUnbondingPeriodReturnsTheStake() public {
        _register(ALICE, KEY);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.ExitNotRequested.selector, KEY, ALICE));
        vm.prank(ALICE);
        registry.withdraw(KEY);

        _exit(ALICE, KEY);
        uint256 withdrawableAt = block.timestamp + UNBONDING;
        vm.warp(withdrawableAt - 1);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.StillUnbonding.selector, withdrawableAt));
        vm.prank(ALICE);
        registry.withdraw(KEY);

        vm.warp(withdrawableAt);
        vm.expectEmit(true, true, false, true, address(registry));
        emit NodeRegistry.Withdrawn(KEY, ALICE, STAKE);
        vm.prank(ALICE);
        registry.withdraw(KEY);
        vm.assertEq(token.balanceOf(ALICE), HELD, "stake returned");
        vm.assertEq(token.balanceOf(address(registry)), 0, "nothing left in the registry");
        vm.assertEq(_stakeOf(KEY, ALICE), 0, "registration gone");

        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.NotRegistered.selector, KEY, ALICE));
        vm.prank(ALICE);
        registry.withdraw(KEY);
    }

    function test_withdraw_byAnotherOperatorReverts() public {
        _register(ALICE, KEY);
        _exit(ALICE, KEY);
        vm.warp(block.timestamp + UNBONDING);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.NotRegistered.selector, KEY, BOB));
        vm.prank(BOB);
        registry.withdraw(KEY);
        vm.assertEq(_stakeOf(KEY, ALICE), STAKE, "Alice's stake stays");
        vm.assertEq(token.balanceOf(BOB), HELD, "Bob got nothing");
    }

    // --------------------------------------------------------------------------------------------------------------
    // Slashing
    // --------------------------------------------------------------------------------------------------------------

    function test_slash_isRoleGated() public {
        _register(ALICE, KEY);
        bytes32 slasherRole = registry.SLASHER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, BOB, slasherRole)
        );
        vm.prank(BOB);
        registry.slash(KEY, ALICE, "spam");
        vm.assertEq(_stakeOf(KEY, ALICE), STAKE, "not slashed");
    }

    function test_slash_movesTheStakeToTheTreasuryAndEndsTheRegistration() public {
        _register(ALICE, KEY);
        _register(BOB, KEY2);
        vm.expectEmit(true, true, false, true, address(registry));
        emit NodeRegistry.Slashed(KEY, ALICE, STAKE, TREASURY, "double-sign");
        vm.prank(ADMIN);
        registry.slash(KEY, ALICE, "double-sign");
        vm.assertEq(token.balanceOf(TREASURY), STAKE, "stake at the treasury");
        vm.assertEq(token.balanceOf(address(registry)), STAKE, "only Bob's stake left");
        vm.assertEq(_stakeOf(KEY, ALICE), 0, "registration gone");
        vm.assertEq(registry.activeRegistrations(), 1, "one active left");

        // An exiting registration is slashable until it is withdrawn (and is not counted twice).
        _exit(BOB, KEY2);
        vm.assertEq(registry.activeRegistrations(), 0, "none active");
        bytes32 slasherRole = registry.SLASHER_ROLE();
        vm.prank(ADMIN);
        registry.grantRole(slasherRole, address(0x51A5));
        vm.prank(address(0x51A5));
        registry.slash(KEY2, BOB, "");
        vm.assertEq(registry.activeRegistrations(), 0, "still none active");
        vm.assertEq(token.balanceOf(TREASURY), 2 * STAKE, "both stakes at the treasury");

        vm.warp(block.timestamp + UNBONDING);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.NotRegistered.selector, KEY2, BOB));
        vm.prank(BOB);
        registry.withdraw(KEY2);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.NotRegistered.selector, KEY2, BOB));
        vm.prank(ADMIN);
        registry.slash(KEY2, BOB, "");
    }

    // --------------------------------------------------------------------------------------------------------------
    // Per-block limits
    // --------------------------------------------------------------------------------------------------------------

    function test_perBlockLimit_atLeast20() public {
        vm.assertEq(registry.registrationLimit(), 20, "limit with no registrations");
        for (uint256 i = 1; i <= 20; i++) {
            _register(ALICE, bytes32(i));
        }
        vm.assertEq(registry.registrationsThisBlock(), 20, "count");
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.TooManyRegistrationsInBlock.selector, 20));
        vm.prank(BOB);
        registry.register(KEY, CONTACT4, SIG);

        vm.roll(block.number + 1);
        vm.assertEq(registry.registrationsThisBlock(), 0, "a new block");
        _register(BOB, KEY);
        vm.assertEq(registry.activeRegistrations(), 21, "registered in the next block");
    }

    function test_perBlockLimit_twoPercentOfActiveRegistrations() public {
        // 1,100 active registrations, 20 a block.
        for (uint256 i = 1; i <= 1100; i++) {
            if (i % 20 == 1) vm.roll(block.number + 1);
            _register(ALICE, bytes32(i));
        }
        vm.roll(block.number + 1);
        vm.assertEq(registry.registrationLimit(), 22, "2 % of 1,100");
        for (uint256 i = 1; i <= 22; i++) {
            _register(BOB, bytes32(i));
        }
        // The limit is fixed at the block's first registration; the 22 new ones do not raise it.
        vm.assertEq(registry.registrationLimit(), 22, "fixed for the block");
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.TooManyRegistrationsInBlock.selector, 22));
        vm.prank(MALLORY);
        registry.register(KEY, CONTACT4, SIG);
    }

    // --------------------------------------------------------------------------------------------------------------
    // Token handling
    // --------------------------------------------------------------------------------------------------------------

    function _hostileRegistry() internal returns (ReentrantToken hostile, NodeRegistry r) {
        hostile = new ReentrantToken(ALICE, HELD);
        r = new NodeRegistry(IERC20(address(hostile)), STAKE, UNBONDING, 0, TREASURY, ADMIN);
        vm.prank(ALICE);
        hostile.approve(address(r), type(uint256).max);
    }

    function test_reentrancy_duringRegisterIsRefused() public {
        (ReentrantToken hostile, NodeRegistry r) = _hostileRegistry();
        // Re-entering with a second registration, or with an exit of the registration being made.
        bytes[2] memory calls = [
            abi.encodeCall(NodeRegistry.register, (KEY2, CONTACT4, SIG)),
            abi.encodeCall(NodeRegistry.requestExit, (KEY))
        ];
        for (uint256 i = 0; i < calls.length; i++) {
            hostile.arm(address(r), calls[i]);
            vm.expectRevert(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector);
            vm.prank(ALICE);
            r.register(KEY, CONTACT4, SIG);
        }
        vm.assertEq(r.activeRegistrations(), 0, "nothing registered");
    }

    function test_reentrancy_duringWithdrawIsRefused() public {
        (ReentrantToken hostile, NodeRegistry r) = _hostileRegistry();
        vm.prank(ALICE);
        r.register(KEY, CONTACT4, SIG);
        vm.prank(ALICE);
        r.requestExit(KEY);
        vm.warp(block.timestamp + UNBONDING);
        // The token calls withdraw again in the middle of the stake's transfer: a second payout is refused, and the
        // whole withdrawal with it.
        hostile.arm(address(r), abi.encodeCall(NodeRegistry.withdraw, (KEY)));
        vm.expectRevert(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector);
        vm.prank(ALICE);
        r.withdraw(KEY);
        vm.assertEq(hostile.balanceOf(address(r)), STAKE, "stake still held once");
        vm.assertEq(_stakeOfIn(r, KEY, ALICE), STAKE, "registration intact");
        // Unarmed, the withdrawal goes through once.
        hostile.disarm();
        vm.prank(ALICE);
        r.withdraw(KEY);
        vm.assertEq(hostile.balanceOf(ALICE), HELD, "stake returned once");
    }

    function test_feeOnTransferTokenIsRefused() public {
        FeeToken fee = new FeeToken(ALICE, HELD);
        NodeRegistry r = new NodeRegistry(IERC20(address(fee)), STAKE, UNBONDING, MIN_AGE, TREASURY, ADMIN);
        vm.startPrank(ALICE);
        fee.approve(address(r), type(uint256).max);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.StakeNotReceived.selector, STAKE - STAKE / 100));
        r.register(KEY, CONTACT4, SIG);
        vm.stopPrank();
    }

    function _stakeOfIn(NodeRegistry r, bytes32 key, address operator) internal view returns (uint256 stake) {
        (stake,,) = r.getRegistration(key, operator);
    }

    // --------------------------------------------------------------------------------------------------------------
    // Construction and the test token
    // --------------------------------------------------------------------------------------------------------------

    function test_constructor_rejectsBadParameters() public {
        IERC20 t = IERC20(address(token));
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.InvalidParameter.selector, "token"));
        new NodeRegistry(IERC20(address(0)), STAKE, UNBONDING, MIN_AGE, TREASURY, ADMIN);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.InvalidParameter.selector, "stakingRequirement"));
        new NodeRegistry(t, 0, UNBONDING, MIN_AGE, TREASURY, ADMIN);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.InvalidParameter.selector, "stakingRequirement"));
        new NodeRegistry(t, uint256(type(uint128).max) + 1, UNBONDING, MIN_AGE, TREASURY, ADMIN);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.InvalidParameter.selector, "unbondingPeriod"));
        new NodeRegistry(t, STAKE, 3651 days, MIN_AGE, TREASURY, ADMIN);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.InvalidParameter.selector, "minimumAge"));
        new NodeRegistry(t, STAKE, UNBONDING, 3651 days, TREASURY, ADMIN);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.InvalidParameter.selector, "treasury"));
        new NodeRegistry(t, STAKE, UNBONDING, MIN_AGE, address(0), ADMIN);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.InvalidParameter.selector, "admin"));
        new NodeRegistry(t, STAKE, UNBONDING, MIN_AGE, TREASURY, address(0));
    }

    function test_constructor_setsParametersAndRoles() public view {
        vm.assertEq(address(registry.token()), address(token), "token");
        vm.assertEq(registry.stakingRequirement(), STAKE, "stake");
        vm.assertEq(registry.unbondingPeriod(), UNBONDING, "unbonding");
        vm.assertEq(registry.minimumAge(), MIN_AGE, "minimum age");
        vm.assertEq(registry.treasury(), TREASURY, "treasury");
        vm.assertTrue(registry.hasRole(registry.DEFAULT_ADMIN_ROLE(), ADMIN), "admin role");
        vm.assertTrue(registry.hasRole(registry.SLASHER_ROLE(), ADMIN), "slasher role");
        vm.assertEq(registry.hasRole(registry.SLASHER_ROLE(), ALICE), false, "nobody else");
    }

    function test_testToken_mintsToEveryHolder() public view {
        vm.assertEq(token.balanceOf(ALICE), HELD, "Alice");
        vm.assertEq(token.balanceOf(BOB), HELD, "Bob");
        vm.assertEq(token.balanceOf(MALLORY), HELD, "Mallory");
        vm.assertEq(token.totalSupply(), 3 * HELD, "supply");
        vm.assertEq(token.decimals(), 18, "decimals");
        vm.assertEq(bytes(token.symbol()), bytes("tNJT"), "symbol");
    }
}
