// SPDX-License-Identifier: AGPL-3.0-only
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {RegistrationMessage} from "./RegistrationMessage.sol";

/// @title Nightjar's staked node registry
/// @notice Operators stake `stakingRequirement` of `token` to register a service node's Ed25519 key with its
/// network contact. Nodes do not read this contract's storage: they follow its events, which are the registry's
/// only source of truth, and derive the node list with the rules of docs/PROTOCOL.md §13.
///
/// A registration is keyed by (Ed25519 key, operator). The node key's proof of possession (`signature`) is an
/// Ed25519 signature that the contract cannot check cheaply, so every follower checks it, and the follower's rule
/// is: **the earliest registration of a key whose proof verifies becomes the node; every other registration of that
/// key is ignored for good** (a key whose node has been withdrawn or slashed may become a node again through a later
/// registration). Several registrations of one key by different operators may therefore coexist here: someone who
/// registers another's key first, with a junk signature, only locks up their own stake and never blocks the owner.
/// The proof binds the chain ID, this contract, the operator and the operator's nonce (`nonces`, incremented by
/// every registration), so it cannot be replayed on another chain, against another contract, by another operator,
/// or a second time by the same operator.
///
/// Times (`unbondingPeriod`, `minimumAge`) are in seconds of `block.timestamp`. The per-block registration limit
/// counts `block.number` (on Arbitrum that is an estimate of the L1 block number, about one per 12 s, which is still
/// a rate limit of the intended kind).
///
/// Token handling: every state-changing function is `nonReentrant` (a transient-storage guard), writes its state and
/// emits its event before it calls the token, and uses SafeERC20; `register` also checks that the contract's balance
/// grew by exactly the stake, so fee-on-transfer or rebasing tokens are refused rather than under-collateralised.
contract NodeRegistry is AccessControl, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// Holders of this role may slash a registration (until network-attested slashing exists).
    bytes32 public constant SLASHER_ROLE = keccak256("nightjar.registry.SLASHER_ROLE");

    /// At least this many registrations are allowed in every block.
    uint256 public constant MIN_REGISTRATIONS_PER_BLOCK = 20;

    /// A block may also hold this percentage of the active registrations at its first registration, if more.
    uint256 public constant REGISTRATIONS_PER_BLOCK_PERCENT = 2;

    /// Length of an Ed25519 signature.
    uint256 public constant SIGNATURE_LENGTH = 64;

    /// Contact family byte of an IPv4 contact: `[4] ‖ 4 address bytes ‖ u16 BE UDP port`, 7 bytes.
    uint8 public constant CONTACT_IPV4 = 4;

    /// Contact family byte of an IPv6 contact: `[6] ‖ 16 address bytes ‖ u16 BE UDP port`, 19 bytes.
    uint8 public constant CONTACT_IPV6 = 6;

    /// Longest `unbondingPeriod` or `minimumAge` the constructor accepts (ten years).
    uint256 public constant MAX_PERIOD = 3650 days;

    /// The staked ERC-20.
    IERC20 public immutable token;

    /// Stake pulled from the operator by every registration, in the token's smallest unit.
    uint256 public immutable stakingRequirement;

    /// Seconds between `requestExit` and the earliest `withdraw`; the stake stays slashable meanwhile.
    uint256 public immutable unbondingPeriod;

    /// Seconds a registration must exist before its operator may request its exit.
    uint256 public immutable minimumAge;

    /// Where slashed stake goes (a treasury, or a burn address such as 0x…dEaD).
    address public immutable treasury;

    /// One registration of a key by an operator. It exists while `stake` is non-zero.
    struct Registration {
        uint128 stake;
        uint64 registeredAt;
        uint64 exitRequestedAt;
    }

    /// The registration counter of the current block.
    struct BlockWindow {
        uint64 number;
        uint64 count;
        uint128 limit;
    }

    mapping(bytes32 registrationId => Registration) private _registrations;

    /// The nonce the operator's next registration will use (and its proof must sign); starts at 0.
    mapping(address operator => uint256) public nonces;

    /// Registrations that exist and whose exit has not been requested.
    uint256 public activeRegistrations;

    BlockWindow private _window;

    /// A registration of `ed25519Key` by `operator`. `nonce` is the operator's nonce it used (signed by the proof),
    /// `stake` the amount pulled. A follower checks `signature` (docs/PROTOCOL.md §13.2) and the rule of first valid
    /// registration before it lets the key become a node.
    event Registered(
        bytes32 indexed ed25519Key,
        address indexed operator,
        bytes contact,
        bytes signature,
        uint256 nonce,
        uint256 stake
    );

    /// The registration of `ed25519Key` by `operator` now has the contact `contact`.
    event ContactUpdated(bytes32 indexed ed25519Key, address indexed operator, bytes contact);

    /// The operator requested the exit of its registration of `ed25519Key`; the stake is withdrawable from
    /// `withdrawableAt` (a `block.timestamp`) on. The node stops serving in swarms.
    event ExitRequested(bytes32 indexed ed25519Key, address indexed operator, uint256 withdrawableAt);

    /// The registration ended: `stake` went back to `operator`.
    event Withdrawn(bytes32 indexed ed25519Key, address indexed operator, uint256 stake);

    /// The registration ended: `stake` went to `treasury`. `reason` is a code chosen by the slasher.
    event Slashed(
        bytes32 indexed ed25519Key, address indexed operator, uint256 stake, address treasury, bytes32 reason
    );

    /// The contact is not `[4] ‖ 4 bytes ‖ port` or `[6] ‖ 16 bytes ‖ port` with a non-zero port.
    error InvalidContact();
    /// The signature is not 64 bytes long.
    error InvalidSignatureLength(uint256 length);
    /// The key is all zeros (never a valid Ed25519 key).
    error InvalidKey();
    /// The operator already has a registration of this key.
    error AlreadyRegistered(bytes32 ed25519Key, address operator);
    /// The operator has no registration of this key.
    error NotRegistered(bytes32 ed25519Key, address operator);
    /// The registration's exit has already been requested.
    error ExitAlreadyRequested(bytes32 ed25519Key, address operator);
    /// The registration's exit has not been requested.
    error ExitNotRequested(bytes32 ed25519Key, address operator);
    /// The registration is younger than `minimumAge`; its exit may be requested from `allowedAt` on.
    error TooYoungToExit(uint256 allowedAt);
    /// The stake is still unbonding; it may be withdrawn from `withdrawableAt` on.
    error StillUnbonding(uint256 withdrawableAt);
    /// This block already holds `limit` registrations.
    error TooManyRegistrationsInBlock(uint256 limit);
    /// The token moved a different amount than asked (a fee-on-transfer or rebasing token).
    error StakeNotReceived(uint256 received);
    /// A constructor argument is out of range.
    error InvalidParameter(string name);

    /// @param token_ the ERC-20 that is staked.
    /// @param stakingRequirement_ stake per registration (non-zero, at most 2^128 − 1).
    /// @param unbondingPeriod_ seconds from `requestExit` to the earliest `withdraw` (at most `MAX_PERIOD`).
    /// @param minimumAge_ seconds from `register` to the earliest `requestExit` (at most `MAX_PERIOD`).
    /// @param treasury_ receives slashed stake (not the zero address).
    /// @param admin gets `DEFAULT_ADMIN_ROLE` (grants and revokes roles) and `SLASHER_ROLE`.
    constructor(
        IERC20 token_,
        uint256 stakingRequirement_,
        uint256 unbondingPeriod_,
        uint256 minimumAge_,
        address treasury_,
        address admin
    ) {
        if (address(token_) == address(0)) revert InvalidParameter("token");
        if (stakingRequirement_ == 0 || stakingRequirement_ > type(uint128).max) {
            revert InvalidParameter("stakingRequirement");
        }
        if (unbondingPeriod_ > MAX_PERIOD) revert InvalidParameter("unbondingPeriod");
        if (minimumAge_ > MAX_PERIOD) revert InvalidParameter("minimumAge");
        if (treasury_ == address(0)) revert InvalidParameter("treasury");
        if (admin == address(0)) revert InvalidParameter("admin");
        token = token_;
        stakingRequirement = stakingRequirement_;
        unbondingPeriod = unbondingPeriod_;
        minimumAge = minimumAge_;
        treasury = treasury_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(SLASHER_ROLE, admin);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Operators
    // ------------------------------------------------------------------------------------------------------------

    /// @notice Registers `ed25519Key` with the caller as its operator, pulling `stakingRequirement` of `token` from
    /// the caller (approve it first).
    /// @param ed25519Key the node's Ed25519 public key, its 32 bytes in RFC 8032 order.
    /// @param contact the node's UDP address: `[4] ‖ IPv4 (4) ‖ port (u16 BE)` or `[6] ‖ IPv6 (16) ‖ port (u16 BE)`.
    /// @param signature the node key's Ed25519 signature over `registrationMessage(ed25519Key, msg.sender,
    /// nonces(msg.sender))`; checked by every follower, not here (only its length is).
    /// @return nonce the operator nonce this registration used (also in the `Registered` event).
    function register(bytes32 ed25519Key, bytes calldata contact, bytes calldata signature)
        external
        nonReentrant
        returns (uint256 nonce)
    {
        if (ed25519Key == bytes32(0)) revert InvalidKey();
        _checkContact(contact);
        if (signature.length != SIGNATURE_LENGTH) revert InvalidSignatureLength(signature.length);
        Registration storage r = _registrations[registrationId(ed25519Key, msg.sender)];
        if (r.stake != 0) revert AlreadyRegistered(ed25519Key, msg.sender);
        _countRegistration();

        nonce = nonces[msg.sender]++;
        uint256 stake = stakingRequirement;
        // casting to 'uint128' is safe because the constructor bounds stakingRequirement to 2^128 - 1
        // forge-lint: disable-next-line(unsafe-typecast)
        r.stake = uint128(stake);
        r.registeredAt = uint64(block.timestamp);
        r.exitRequestedAt = 0;
        activeRegistrations += 1;

        emit Registered(ed25519Key, msg.sender, contact, signature, nonce, stake);

        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), stake);
        uint256 received = token.balanceOf(address(this)) - before;
        if (received != stake) revert StakeNotReceived(received);
    }

    /// @notice Replaces the contact of the caller's registration of `ed25519Key` (also while it is exiting, so an
    /// exiting node stays reachable for its hand-off).
    function updateContact(bytes32 ed25519Key, bytes calldata contact) external nonReentrant {
        _checkContact(contact);
        _existing(ed25519Key, msg.sender);
        emit ContactUpdated(ed25519Key, msg.sender, contact);
    }

    /// @notice Starts the exit of the caller's registration of `ed25519Key`: the node leaves the swarms, and the
    /// stake becomes withdrawable after `unbondingPeriod` (slashable until then). Allowed once the registration is
    /// `minimumAge` old.
    function requestExit(bytes32 ed25519Key) external nonReentrant {
        Registration storage r = _existing(ed25519Key, msg.sender);
        if (r.exitRequestedAt != 0) revert ExitAlreadyRequested(ed25519Key, msg.sender);
        uint256 allowedAt = uint256(r.registeredAt) + minimumAge;
        // The periods are hours to days: a sequencer or validator moving timestamps by seconds does not matter.
        // forge-lint: disable-next-line(block-timestamp)
        if (block.timestamp < allowedAt) revert TooYoungToExit(allowedAt);
        r.exitRequestedAt = uint64(block.timestamp);
        activeRegistrations -= 1;
        emit ExitRequested(ed25519Key, msg.sender, block.timestamp + unbondingPeriod);
    }

    /// @notice Ends the caller's registration of `ed25519Key` after its unbonding period and returns its stake.
    function withdraw(bytes32 ed25519Key) external nonReentrant {
        bytes32 id = registrationId(ed25519Key, msg.sender);
        Registration memory r = _registrations[id];
        if (r.stake == 0) revert NotRegistered(ed25519Key, msg.sender);
        if (r.exitRequestedAt == 0) revert ExitNotRequested(ed25519Key, msg.sender);
        uint256 withdrawableAt = uint256(r.exitRequestedAt) + unbondingPeriod;
        // forge-lint: disable-next-line(block-timestamp)
        if (block.timestamp < withdrawableAt) revert StillUnbonding(withdrawableAt);
        delete _registrations[id];
        emit Withdrawn(ed25519Key, msg.sender, r.stake);
        token.safeTransfer(msg.sender, r.stake);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Slashing
    // ------------------------------------------------------------------------------------------------------------

    /// @notice Ends `operator`'s registration of `ed25519Key` (active or exiting) and moves its whole stake to
    /// `treasury`. Only `SLASHER_ROLE`.
    /// @param reason a code chosen by the slasher, carried in the `Slashed` event.
    function slash(bytes32 ed25519Key, address operator, bytes32 reason) external onlyRole(SLASHER_ROLE) nonReentrant {
        bytes32 id = registrationId(ed25519Key, operator);
        Registration memory r = _registrations[id];
        if (r.stake == 0) revert NotRegistered(ed25519Key, operator);
        if (r.exitRequestedAt == 0) activeRegistrations -= 1;
        delete _registrations[id];
        emit Slashed(ed25519Key, operator, r.stake, treasury, reason);
        token.safeTransfer(treasury, r.stake);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------------------------

    /// The storage key of `operator`'s registration of `ed25519Key`.
    function registrationId(bytes32 ed25519Key, address operator) public pure returns (bytes32) {
        return keccak256(abi.encode(ed25519Key, operator));
    }

    /// `operator`'s registration of `ed25519Key`: all zeros if there is none; `exitRequestedAt` is 0 while active.
    function getRegistration(bytes32 ed25519Key, address operator)
        external
        view
        returns (uint256 stake, uint256 registeredAt, uint256 exitRequestedAt)
    {
        Registration memory r = _registrations[registrationId(ed25519Key, operator)];
        return (r.stake, r.registeredAt, r.exitRequestedAt);
    }

    /// The message the node key signs for a registration of `ed25519Key` by `operator` with nonce `nonce` in this
    /// contract on this chain (docs/PROTOCOL.md §13.2). The next registration of `operator` uses `nonces(operator)`.
    function registrationMessage(bytes32 ed25519Key, address operator, uint256 nonce)
        external
        view
        returns (bytes memory)
    {
        return RegistrationMessage.build(block.chainid, address(this), operator, ed25519Key, nonce);
    }

    /// How many registrations the current block may hold in all: max(MIN_REGISTRATIONS_PER_BLOCK,
    /// REGISTRATIONS_PER_BLOCK_PERCENT % of the active registrations before the block's first registration).
    function registrationLimit() public view returns (uint256) {
        if (_window.number == block.number) return _window.limit;
        return _limitFor(activeRegistrations);
    }

    /// How many registrations the current block already holds.
    function registrationsThisBlock() external view returns (uint256) {
        return _window.number == block.number ? _window.count : 0;
    }

    // ------------------------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------------------------

    function _existing(bytes32 ed25519Key, address operator) private view returns (Registration storage r) {
        r = _registrations[registrationId(ed25519Key, operator)];
        if (r.stake == 0) revert NotRegistered(ed25519Key, operator);
    }

    function _limitFor(uint256 active) private pure returns (uint256) {
        uint256 share = (active * REGISTRATIONS_PER_BLOCK_PERCENT) / 100;
        return share > MIN_REGISTRATIONS_PER_BLOCK ? share : MIN_REGISTRATIONS_PER_BLOCK;
    }

    function _countRegistration() private {
        BlockWindow memory w = _window;
        if (w.number != block.number) {
            w = BlockWindow({number: uint64(block.number), count: 0, limit: uint128(_limitFor(activeRegistrations))});
        }
        if (w.count >= w.limit) revert TooManyRegistrationsInBlock(w.limit);
        w.count += 1;
        _window = w;
    }

    function _checkContact(bytes calldata contact) private pure {
        uint256 len = contact.length;
        if (len == 0) revert InvalidContact();
        uint8 family = uint8(contact[0]);
        if (!((family == CONTACT_IPV4 && len == 7) || (family == CONTACT_IPV6 && len == 19))) {
            revert InvalidContact();
        }
        if (contact[len - 2] == 0 && contact[len - 1] == 0) revert InvalidContact();
    }
}
