// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @notice The parts of ERC-20 the escrow calls.
interface IERC20 {
    function transfer(address to, uint256 amount) external returns (bool);
    function transferFrom(address from, address to, uint256 amount) external returns (bool);
}

/// @title AuditEscrow: funds an rwa audit and pays it out once, on a report signed by a
/// threshold of registered node signers.
/// @notice A sponsor funds an audit (ERC-20 or native ETH, token = address(0)). When the audit
/// ends, at least `threshold` distinct registered signers sign the EIP-712 report
/// Settlement(bytes32 auditId, bytes32 payoutsHash, uint256 total), where payoutsHash is
/// keccak256(abi.encode(payees, amounts)): the same bytes the node's data_dump route serves.
/// `settle` credits each payee and the sponsor's remainder for pull withdrawal; it succeeds once
/// per audit. Nobody but the signers decides who is paid, and nothing is paid twice.
/// Reward pools (impact actions) live beside audits: anyone deposits into a pool, and the
/// signers pay it out in numbered batches, BatchSettlement(bytes32 poolId, uint256 batch,
/// bytes32 payoutsHash, uint256 total), each batch once and in order, never above what the pool
/// holds. Payees withdraw with the same `withdraw`.
contract AuditEscrow {
    struct Audit {
        address sponsor;
        address token;
        uint256 funded;
        bool settled;
    }

    /// @notice A reward pool: its token (fixed by the first deposit; `open` tells it is fixed,
    /// since address(0) is native ETH), what was deposited and paid, and how many batches settled.
    struct Pool {
        address token;
        uint256 funded;
        uint256 paid;
        uint256 batches;
        bool open;
    }

    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant SETTLEMENT_TYPEHASH =
        keccak256("Settlement(bytes32 auditId,bytes32 payoutsHash,uint256 total)");
    bytes32 private constant BATCH_SETTLEMENT_TYPEHASH =
        keccak256("BatchSettlement(bytes32 poolId,uint256 batch,bytes32 payoutsHash,uint256 total)");
    bytes32 private constant NAME_HASH = keccak256("rwa AuditEscrow");
    bytes32 private constant VERSION_HASH = keccak256("1");
    /// @dev secp256k1n / 2: larger s values are the malleable twins of valid signatures.
    uint256 private constant HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    address public owner;
    uint256 public threshold;
    uint256 public signerCount;
    mapping(address => bool) public isSigner;
    mapping(bytes32 => Audit) public audits;
    /// @notice Reward pools by id, apart from audits.
    mapping(bytes32 => Pool) public pools;
    /// @notice What each address may withdraw, per token (address(0) = native ETH).
    mapping(address => mapping(address => uint256)) public owed;
    uint256 private locked = 1;

    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event SignerAdded(address indexed signer);
    event SignerRemoved(address indexed signer);
    event ThresholdChanged(uint256 threshold);
    event Funded(bytes32 indexed auditId, address indexed sponsor, address indexed token, uint256 amount);
    event Settled(bytes32 indexed auditId, bytes32 payoutsHash, uint256 total, uint256 refund);
    event PoolDeposited(
        bytes32 indexed poolId, address indexed from, address indexed token, uint256 amount, bytes32 memo
    );
    event BatchSettled(bytes32 indexed poolId, uint256 indexed batch, bytes32 payoutsHash, uint256 total);
    event Withdrawn(address indexed payee, address indexed token, uint256 amount);

    error NotOwner();
    error InvalidThreshold(uint256 threshold, uint256 signers);
    error AlreadySigner(address signer);
    error NotSigner(address signer);
    error ZeroAmount();
    error WrongValue(uint256 sent, uint256 expected);
    error NotSponsor(address sponsor);
    error TokenMismatch(address token);
    error NotFunded(bytes32 auditId);
    error AlreadySettled(bytes32 auditId);
    error LengthMismatch(uint256 payees, uint256 amounts);
    error TotalAboveFunding(uint256 total, uint256 funded);
    error BatchOutOfOrder(uint256 expected, uint256 got);
    error TotalAbovePool(uint256 total, uint256 available);
    error TooFewSignatures(uint256 valid, uint256 threshold);
    error InvalidSignature(uint256 index);
    error NotASigner(address recovered);
    error DuplicateSigner(address signer);
    error SignersNotSorted(uint256 index);
    error NothingOwed(address payee, address token);
    error TransferFailed(address token, address to, uint256 amount);
    error Reentrancy();

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    modifier nonReentrant() {
        if (locked != 1) revert Reentrancy();
        locked = 2;
        _;
        locked = 1;
    }

    constructor(address[] memory signers, uint256 threshold_) {
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
        for (uint256 i = 0; i < signers.length; i++) _addSigner(signers[i]);
        _setThreshold(threshold_);
    }

    // ---- administration (owner) ----

    function transferOwnership(address newOwner) external onlyOwner {
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    function addSigner(address signer) external onlyOwner {
        _addSigner(signer);
    }

    function removeSigner(address signer) external onlyOwner {
        if (!isSigner[signer]) revert NotSigner(signer);
        if (signerCount - 1 < threshold) revert InvalidThreshold(threshold, signerCount - 1);
        isSigner[signer] = false;
        signerCount--;
        emit SignerRemoved(signer);
    }

    function setThreshold(uint256 threshold_) external onlyOwner {
        _setThreshold(threshold_);
    }

    function _addSigner(address signer) private {
        if (isSigner[signer]) revert AlreadySigner(signer);
        isSigner[signer] = true;
        signerCount++;
        emit SignerAdded(signer);
    }

    function _setThreshold(uint256 threshold_) private {
        if (threshold_ == 0 || threshold_ > signerCount) revert InvalidThreshold(threshold_, signerCount);
        threshold = threshold_;
        emit ThresholdChanged(threshold_);
    }

    // ---- funding ----

    /// @notice Funds `auditId` with `amount` of `token` (address(0): native ETH sent as value).
    /// The first funder is the sponsor; only the sponsor may add more, in the same token.
    function fund(bytes32 auditId, address token, uint256 amount) external payable nonReentrant {
        if (amount == 0) revert ZeroAmount();
        Audit storage audit = audits[auditId];
        if (audit.settled) revert AlreadySettled(auditId);
        if (audit.sponsor == address(0)) {
            audit.sponsor = msg.sender;
            audit.token = token;
        } else {
            if (audit.sponsor != msg.sender) revert NotSponsor(audit.sponsor);
            if (audit.token != token) revert TokenMismatch(audit.token);
        }
        audit.funded += amount;
        emit Funded(auditId, msg.sender, token, amount);
        if (token == address(0)) {
            if (msg.value != amount) revert WrongValue(msg.value, amount);
        } else {
            if (msg.value != 0) revert WrongValue(msg.value, 0);
            _call(token, abi.encodeCall(IERC20.transferFrom, (msg.sender, address(this), amount)), msg.sender, amount);
        }
    }

    /// @notice Deposits `amount` of `token` into pool `poolId` (address(0): native ETH sent as
    /// value). Anyone may deposit; the first deposit fixes the pool's token. `memo` is free for the
    /// depositor's purpose (an auditor's stake carries its 32-byte Ed25519 key) and only logged.
    function deposit(bytes32 poolId, address token, uint256 amount, bytes32 memo) external payable nonReentrant {
        if (amount == 0) revert ZeroAmount();
        Pool storage pool = pools[poolId];
        if (!pool.open) {
            pool.open = true;
            pool.token = token;
        } else if (pool.token != token) {
            revert TokenMismatch(pool.token);
        }
        pool.funded += amount;
        emit PoolDeposited(poolId, msg.sender, token, amount, memo);
        if (token == address(0)) {
            if (msg.value != amount) revert WrongValue(msg.value, amount);
        } else {
            if (msg.value != 0) revert WrongValue(msg.value, 0);
            _call(token, abi.encodeCall(IERC20.transferFrom, (msg.sender, address(this), amount)), msg.sender, amount);
        }
    }

    // ---- settlement ----

    /// @notice The EIP-712 domain separator: name "rwa AuditEscrow", version "1", this chain, this contract.
    function domainSeparator() public view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, address(this)));
    }

    /// @notice The digest signers sign for a settlement.
    function settlementDigest(bytes32 auditId, bytes32 payoutsHash, uint256 total) public view returns (bytes32) {
        bytes32 structHash = keccak256(abi.encode(SETTLEMENT_TYPEHASH, auditId, payoutsHash, total));
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator(), structHash));
    }

    /// @notice Pays out an audit once: checks `threshold` signatures by distinct registered
    /// signers (sorted by signer address, ascending), then credits every payee and the sponsor's
    /// remainder for withdrawal.
    function settle(
        bytes32 auditId,
        address[] calldata payees,
        uint256[] calldata amounts,
        bytes[] calldata signatures
    ) external nonReentrant {
        Audit storage audit = audits[auditId];
        if (audit.settled) revert AlreadySettled(auditId);
        uint256 funded = audit.funded;
        if (funded == 0) revert NotFunded(auditId);
        if (payees.length != amounts.length) revert LengthMismatch(payees.length, amounts.length);
        uint256 total = 0;
        for (uint256 i = 0; i < amounts.length; i++) total += amounts[i];
        if (total > funded) revert TotalAboveFunding(total, funded);
        bytes32 payoutsHash = keccak256(abi.encode(payees, amounts));
        _checkSignatures(settlementDigest(auditId, payoutsHash, total), signatures);

        // Effects only: nothing is transferred here, so no payee can block or re-enter settlement.
        audit.settled = true;
        address token = audit.token;
        mapping(address => uint256) storage credit = owed[token];
        for (uint256 i = 0; i < payees.length; i++) credit[payees[i]] += amounts[i];
        uint256 refund = funded - total;
        if (refund > 0) credit[audit.sponsor] += refund;
        emit Settled(auditId, payoutsHash, total, refund);
    }

    /// @notice The digest signers sign for batch `batch` of a pool (same EIP-712 domain as settlements).
    function batchDigest(bytes32 poolId, uint256 batch, bytes32 payoutsHash, uint256 total)
        public
        view
        returns (bytes32)
    {
        bytes32 structHash = keccak256(abi.encode(BATCH_SETTLEMENT_TYPEHASH, poolId, batch, payoutsHash, total));
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator(), structHash));
    }

    /// @notice Pays batch `batch` of a pool: batches settle in order (batch == pools[poolId].batches),
    /// each once, for no more than the pool holds unpaid, on `threshold` signatures by distinct
    /// registered signers sorted by address. Credits every payee for withdrawal; an empty batch
    /// only advances the count.
    function settleBatch(
        bytes32 poolId,
        uint256 batch,
        address[] calldata payees,
        uint256[] calldata amounts,
        bytes[] calldata signatures
    ) external nonReentrant {
        Pool storage pool = pools[poolId];
        if (batch != pool.batches) revert BatchOutOfOrder(pool.batches, batch);
        if (payees.length != amounts.length) revert LengthMismatch(payees.length, amounts.length);
        uint256 total = 0;
        for (uint256 i = 0; i < amounts.length; i++) total += amounts[i];
        uint256 available = pool.funded - pool.paid;
        if (total > available) revert TotalAbovePool(total, available);
        bytes32 payoutsHash = keccak256(abi.encode(payees, amounts));
        _checkSignatures(batchDigest(poolId, batch, payoutsHash, total), signatures);

        // Effects only, as in settle: payees pull their credit with withdraw.
        pool.paid += total;
        pool.batches = batch + 1;
        mapping(address => uint256) storage credit = owed[pool.token];
        for (uint256 i = 0; i < payees.length; i++) credit[payees[i]] += amounts[i];
        emit BatchSettled(poolId, batch, payoutsHash, total);
    }

    function _checkSignatures(bytes32 digest, bytes[] calldata signatures) private view {
        uint256 needed = threshold;
        if (signatures.length < needed) revert TooFewSignatures(signatures.length, needed);
        address last = address(0);
        for (uint256 i = 0; i < signatures.length; i++) {
            address signer = _recover(digest, signatures[i], i);
            if (!isSigner[signer]) revert NotASigner(signer);
            if (signer == last) revert DuplicateSigner(signer);
            if (signer < last) revert SignersNotSorted(i);
            last = signer;
        }
    }

    function _recover(bytes32 digest, bytes calldata signature, uint256 index) private pure returns (address) {
        if (signature.length != 65) revert InvalidSignature(index);
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        if (v < 27) v += 27;
        if ((v != 27 && v != 28) || uint256(s) > HALF_N) revert InvalidSignature(index);
        address signer = ecrecover(digest, v, r, s);
        if (signer == address(0)) revert InvalidSignature(index);
        return signer;
    }

    // ---- withdrawal ----

    /// @notice Sends the caller everything it is owed in `token` (address(0): native ETH).
    function withdraw(address token) external nonReentrant {
        uint256 amount = owed[token][msg.sender];
        if (amount == 0) revert NothingOwed(msg.sender, token);
        owed[token][msg.sender] = 0;
        emit Withdrawn(msg.sender, token, amount);
        if (token == address(0)) {
            (bool ok,) = msg.sender.call{value: amount}("");
            if (!ok) revert TransferFailed(token, msg.sender, amount);
        } else {
            _call(token, abi.encodeCall(IERC20.transfer, (msg.sender, amount)), msg.sender, amount);
        }
    }

    /// @dev Calls an ERC-20 and accepts both tokens that return true and tokens that return nothing.
    function _call(address token, bytes memory data, address who, uint256 amount) private {
        (bool ok, bytes memory result) = token.call(data);
        if (!ok || (result.length != 0 && !abi.decode(result, (bool))) || token.code.length == 0) {
            revert TransferFailed(token, who, amount);
        }
    }
}
