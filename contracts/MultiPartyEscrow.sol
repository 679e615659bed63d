// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @notice The parts of ERC-20 the escrow calls.
interface IERC20Token {
    function transfer(address to, uint256 amount) external returns (bool);
    function transferFrom(address from, address to, uint256 amount) external returns (bool);
}

/// @title MultiPartyEscrow: payment channels over one ERC-20, with SingularityNET's interface.
/// @notice Same functions, argument lists, events and signed messages as SingularityNET's
/// MultiPartyEscrow (platform-contracts), so that its daemon and CLI work against it; our own
/// code. A sender deposits tokens (its escrow balance), opens a channel to a recipient with a
/// value and an expiration block, and pays off-chain by signing ever larger cumulative amounts
/// for the channel's current nonce. The recipient claims with the latest signature:
///   keccak256("\x19Ethereum Signed Message:\n32" ‖ keccak256(abi.encodePacked(
///     "__MPE_claim_message", address(this), channelId, nonce, plannedAmount)))
/// (no chain id, v = 27 or 28), signed by the channel's signer or its sender. A claim moves
/// `actualAmount` into the recipient's escrow balance and bumps the nonce, so every signature of
/// the old nonce is spent. From the expiration block on, the sender may take back what is left.
/// @dev Differences from the original, none visible to its clients: refusals are custom errors
/// with their values; a channel must exist to be funded, extended or claimed; expirations must fit
/// in 96 bits; a recovered zero address never matches; ChannelSenderClaim and ChannelClaim report
/// the amounts actually refunded and sent back (the original logs them after zeroing). Storage is
/// packed so a claim reads three cold slots (four when the sender, not the signer, signed).
contract MultiPartyEscrow {
    /// @dev One channel in five slots; recipient and nonce share the one every claim reads and writes.
    struct Channel {
        address recipient;
        uint96 nonce;
        address signer;
        address sender;
        uint96 expiration;
        uint256 value;
        bytes32 groupId;
    }

    IERC20Token public immutable token;
    /// @notice Tokens deposited and not locked in a channel, by owner.
    mapping(address => uint256) public balances;
    /// @notice The id the next channel gets (and the number of channels).
    uint256 public nextChannelId;
    /// @notice openChannelByThirdParty messages already used (each opens one channel).
    mapping(bytes32 => bool) public usedMessages;
    mapping(uint256 => Channel) private _channels;

    event ChannelOpen(
        uint256 channelId,
        uint256 nonce,
        address indexed sender,
        address signer,
        address indexed recipient,
        bytes32 indexed groupId,
        uint256 amount,
        uint256 expiration
    );
    event ChannelClaim(
        uint256 indexed channelId,
        uint256 nonce,
        address indexed recipient,
        uint256 claimAmount,
        uint256 plannedAmount,
        uint256 sendBackAmount,
        uint256 keepAmount
    );
    event ChannelSenderClaim(uint256 indexed channelId, uint256 nonce, uint256 claimAmount);
    event ChannelExtend(uint256 indexed channelId, uint256 newExpiration);
    event ChannelAddFunds(uint256 indexed channelId, uint256 additionalFunds);
    event DepositFunds(address indexed sender, uint256 amount);
    event WithdrawFunds(address indexed sender, uint256 amount);
    event TransferFunds(address indexed sender, address indexed receiver, uint256 amount);

    error InsufficientEscrowBalance(address account, uint256 balance, uint256 needed);
    error TokenTransferFailed();
    error ZeroSigner();
    error ExpirationTooFar(uint256 expiration);
    error UnknownChannel(uint256 channelId);
    error NotRecipient(address caller, address recipient);
    error NotSender(address caller, address sender);
    error InsufficientChannelValue(uint256 channelId, uint256 value, uint256 amount);
    error ActualAbovePlanned(uint256 actualAmount, uint256 plannedAmount);
    /// @notice The claim signature recovers to `recovered`, neither the channel's signer nor its sender.
    error InvalidSignature(uint256 channelId, address recovered);
    error InvalidThirdPartySignature(address sender, address recovered);
    error MessageUsed(bytes32 message);
    error ExpirationDecreased(uint256 expiration, uint256 newExpiration);
    error ClaimTooEarly(uint256 blockNumber, uint256 expiration);
    error LengthMismatch();

    constructor(address _token) {
        token = IERC20Token(_token);
    }

    /// @notice A channel as the original's public `channels` mapping returns it.
    function channels(uint256 channelId)
        external
        view
        returns (
            uint256 nonce,
            address sender,
            address signer,
            address recipient,
            bytes32 groupId,
            uint256 value,
            uint256 expiration
        )
    {
        Channel storage c = _channels[channelId];
        return (c.nonce, c.sender, c.signer, c.recipient, c.groupId, c.value, c.expiration);
    }

    /// @notice Moves `value` tokens from the caller (who approved them) into its escrow balance.
    function deposit(uint256 value) public returns (bool) {
        _tokenCall(abi.encodeCall(IERC20Token.transferFrom, (msg.sender, address(this), value)));
        balances[msg.sender] += value;
        emit DepositFunds(msg.sender, value);
        return true;
    }

    /// @notice Sends `value` tokens of the caller's escrow balance back to it.
    function withdraw(uint256 value) public returns (bool) {
        _debit(msg.sender, value);
        _tokenCall(abi.encodeCall(IERC20Token.transfer, (msg.sender, value)));
        emit WithdrawFunds(msg.sender, value);
        return true;
    }

    /// @notice Moves `value` of the caller's escrow balance to `receiver`'s.
    function transfer(address receiver, uint256 value) public returns (bool) {
        _debit(msg.sender, value);
        balances[receiver] += value;
        emit TransferFunds(msg.sender, receiver, value);
        return true;
    }

    /// @notice Opens a channel from the caller to `recipient`, locking `value` of its balance.
    function openChannel(address signer, address recipient, bytes32 groupId, uint256 value, uint256 expiration)
        public
        returns (bool)
    {
        _openChannel(msg.sender, signer, recipient, groupId, value, expiration);
        return true;
    }

    /// @notice Opens a channel for `sender`, who signed its terms, paid from the caller's balance.
    /// @dev The signed message is the original's: prefixed keccak256(abi.encodePacked(
    /// "__openChannelByThirdParty", this, caller, signer, recipient, groupId, value, expiration,
    /// messageNonce)); each message opens one channel.
    function openChannelByThirdParty(
        address sender,
        address signer,
        address recipient,
        bytes32 groupId,
        uint256 value,
        uint256 expiration,
        uint256 messageNonce,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) public returns (bool) {
        bytes32 message = _prefixed(
            keccak256(
                abi.encodePacked(
                    "__openChannelByThirdParty",
                    address(this),
                    msg.sender,
                    signer,
                    recipient,
                    groupId,
                    value,
                    expiration,
                    messageNonce
                )
            )
        );
        if (usedMessages[message]) revert MessageUsed(message);
        usedMessages[message] = true;
        address recovered = ecrecover(message, v, r, s);
        if (recovered == address(0) || recovered != sender) revert InvalidThirdPartySignature(sender, recovered);
        _openChannel(sender, signer, recipient, groupId, value, expiration);
        return true;
    }

    /// @notice Deposits `value` and opens a channel with it, in one transaction.
    function depositAndOpenChannel(
        address signer,
        address recipient,
        bytes32 groupId,
        uint256 value,
        uint256 expiration
    ) public returns (bool) {
        deposit(value);
        _openChannel(msg.sender, signer, recipient, groupId, value, expiration);
        return true;
    }

    /// @notice Claims several channels of the caller in one transaction (the arrays align by index).
    function multiChannelClaim(
        uint256[] memory channelIds,
        uint256[] memory actualAmounts,
        uint256[] memory plannedAmounts,
        bool[] memory isSendbacks,
        uint8[] memory v,
        bytes32[] memory r,
        bytes32[] memory s
    ) public {
        uint256 len = channelIds.length;
        if (
            actualAmounts.length != len || plannedAmounts.length != len || isSendbacks.length != len
                || v.length != len || r.length != len || s.length != len
        ) revert LengthMismatch();
        uint256 total;
        for (uint256 i; i < len; ++i) {
            total += _claim(channelIds[i], actualAmounts[i], plannedAmounts[i], v[i], r[i], s[i], isSendbacks[i]);
        }
        balances[msg.sender] += total;
    }

    /// @notice Claims `actualAmount` of a channel the caller receives, on a signature of
    /// `plannedAmount` for the channel's nonce; the nonce moves on, and with `isSendback` the rest
    /// returns to the sender.
    function channelClaim(
        uint256 channelId,
        uint256 actualAmount,
        uint256 plannedAmount,
        uint8 v,
        bytes32 r,
        bytes32 s,
        bool isSendback
    ) public {
        balances[msg.sender] += _claim(channelId, actualAmount, plannedAmount, v, r, s, isSendback);
    }

    /// @notice Moves a channel's expiration later (its sender only).
    function channelExtend(uint256 channelId, uint256 newExpiration) public returns (bool) {
        Channel storage c = _existing(channelId);
        if (msg.sender != c.sender) revert NotSender(msg.sender, c.sender);
        if (newExpiration < c.expiration) revert ExpirationDecreased(c.expiration, newExpiration);
        c.expiration = _expiration(newExpiration);
        emit ChannelExtend(channelId, newExpiration);
        return true;
    }

    /// @notice Adds `amount` of the caller's balance to a channel (anyone may).
    function channelAddFunds(uint256 channelId, uint256 amount) public returns (bool) {
        Channel storage c = _existing(channelId);
        _debit(msg.sender, amount);
        c.value += amount;
        emit ChannelAddFunds(channelId, amount);
        return true;
    }

    /// @notice channelExtend and channelAddFunds in one transaction.
    function channelExtendAndAddFunds(uint256 channelId, uint256 newExpiration, uint256 amount) public {
        channelExtend(channelId, newExpiration);
        channelAddFunds(channelId, amount);
    }

    /// @notice From the expiration block on, the sender takes back the channel's value; the nonce moves on.
    function channelClaimTimeout(uint256 channelId) public {
        Channel storage c = _existing(channelId);
        if (msg.sender != c.sender) revert NotSender(msg.sender, c.sender);
        if (block.number < c.expiration) revert ClaimTooEarly(block.number, c.expiration);
        uint256 refund = _sendBack(c);
        emit ChannelSenderClaim(channelId, c.nonce, refund);
    }

    /// @dev Checks and applies one claim; returns what the caller is credited.
    function _claim(
        uint256 channelId,
        uint256 actualAmount,
        uint256 plannedAmount,
        uint8 v,
        bytes32 r,
        bytes32 s,
        bool isSendback
    ) private returns (uint256) {
        Channel storage c = _existing(channelId);
        if (msg.sender != c.recipient) revert NotRecipient(msg.sender, c.recipient);
        if (actualAmount > plannedAmount) revert ActualAbovePlanned(actualAmount, plannedAmount);
        uint256 value = c.value;
        if (actualAmount > value) revert InsufficientChannelValue(channelId, value, actualAmount);
        _assertSigned(c, channelId, plannedAmount, v, r, s);
        c.value = value - actualAmount;
        _nextNonce(c, channelId, actualAmount, plannedAmount, isSendback);
        return actualAmount;
    }

    /// @dev Closes a claimed nonce: the next one keeps the rest, or the rest returns to the sender.
    function _nextNonce(
        Channel storage c,
        uint256 channelId,
        uint256 actualAmount,
        uint256 plannedAmount,
        bool isSendback
    ) private {
        uint256 nonce = uint256(c.nonce) + 1;
        if (isSendback) {
            uint256 sentBack = _sendBack(c);
            emit ChannelClaim(channelId, nonce, msg.sender, actualAmount, plannedAmount, sentBack, 0);
        } else {
            c.nonce = uint96(nonce);
            emit ChannelClaim(channelId, nonce, msg.sender, actualAmount, plannedAmount, 0, c.value);
        }
    }

    /// @dev Refuses a claim signature that is not the channel's signer's or sender's.
    function _assertSigned(Channel storage c, uint256 channelId, uint256 plannedAmount, uint8 v, bytes32 r, bytes32 s)
        private
        view
    {
        // Byte-compatible with SingularityNET MultiPartyEscrow channelClaim.
        bytes32 message = _prefixed(
            keccak256(abi.encodePacked("__MPE_claim_message", address(this), channelId, uint256(c.nonce), plannedAmount))
        );
        address recovered = ecrecover(message, v, r, s);
        if (recovered == address(0) || (recovered != c.signer && recovered != c.sender)) {
            revert InvalidSignature(channelId, recovered);
        }
    }

    /// @dev Returns a channel's value to its sender and moves to the next nonce, expired.
    function _sendBack(Channel storage c) private returns (uint256 refund) {
        refund = c.value;
        balances[c.sender] += refund;
        c.value = 0;
        c.nonce += 1;
        c.expiration = 0;
    }

    function _openChannel(
        address sender,
        address signer,
        address recipient,
        bytes32 groupId,
        uint256 value,
        uint256 expiration
    ) private {
        if (signer == address(0)) revert ZeroSigner();
        // The value comes from the caller's balance, also when a third party opens for the sender.
        _debit(msg.sender, value);
        uint256 channelId = nextChannelId++;
        _channels[channelId] = Channel({
            recipient: recipient,
            nonce: 0,
            signer: signer,
            sender: sender,
            expiration: _expiration(expiration),
            value: value,
            groupId: groupId
        });
        emit ChannelOpen(channelId, 0, sender, signer, recipient, groupId, value, expiration);
    }

    function _existing(uint256 channelId) private view returns (Channel storage) {
        if (channelId >= nextChannelId) revert UnknownChannel(channelId);
        return _channels[channelId];
    }

    function _expiration(uint256 expiration) private pure returns (uint96) {
        if (expiration > type(uint96).max) revert ExpirationTooFar(expiration);
        return uint96(expiration);
    }

    function _debit(address account, uint256 value) private {
        uint256 balance = balances[account];
        if (balance < value) revert InsufficientEscrowBalance(account, balance, value);
        balances[account] = balance - value;
    }

    /// @dev Calls the token; a revert is passed on as is, a `false` or a missing token refused.
    function _tokenCall(bytes memory data) private {
        address target = address(token);
        (bool ok, bytes memory result) = target.call(data);
        if (!ok) {
            assembly {
                revert(add(result, 32), mload(result))
            }
        }
        if (target.code.length == 0 || (result.length > 0 && !abi.decode(result, (bool)))) {
            revert TokenTransferFailed();
        }
    }

    /// @dev The hash eth_sign signs for a 32-byte message (EIP-191 version 0x45).
    function _prefixed(bytes32 hash) private pure returns (bytes32) {
        return keccak256(abi.encodePacked("\x19Ethereum Signed Message:\n32", hash));
    }
}
