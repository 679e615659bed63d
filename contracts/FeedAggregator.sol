// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {AggregatorV3Interface} from "./AggregatorV3Interface.sol";

/// @title FeedAggregator: an rwa price feed on chain, fed by reports a threshold of nodes signed.
/// @notice Each report is one aggregation window of the feed's log: the window's number, the
/// weighted median (`answer`), how many attestations it counted, the window's bounds in seconds
/// and `idsHash`, the hash of the contributing attestation ids. The observations are not sent:
/// anyone can fetch the attestations named by the log and recompute the answer. A report is
/// accepted when at least `threshold` distinct registered signers signed its digest
///   keccak256(abi.encode(keccak256("rwa.feed.report.v1"), chainId, aggregator, window, answer,
///                        observations, windowStart, windowEnd, idsHash))
/// (raw ECDSA over the digest, no EIP-191 prefix). Anyone may transmit. Rounds are numbered 1, 2,
/// 3… per accepted report; a report's window must be greater than the last accepted one, and a
/// report whose window ended more than `maxReportAge` seconds ago is stale.
/// @dev Gas: the signer set, threshold and maximum report age live in the code of a small data
/// contract (one cold account read for the whole set instead of one cold storage read per
/// signer); each signature is 64 bytes (EIP-2098 r, yParityAndS) plus the signer's index in the
/// set, checked against a bitmap for duplicates; a round is one storage slot.
contract FeedAggregator is AggregatorV3Interface {
    /// @notice One aggregation window's report, as the nodes sign it.
    struct Report {
        uint64 window;
        int192 answer;
        uint32 observations;
        uint64 windowStart;
        uint64 windowEnd;
        bytes32 idsHash;
    }

    bytes32 private constant REPORT_TYPEHASH = keccak256("rwa.feed.report.v1");
    /// @notice The most signers a feed may have (the duplicate bitmap and index byte allow 256;
    /// this bound keeps the set's data contract and the owner's checks small).
    uint256 public constant MAX_SIGNERS = 64;
    /// @dev Bytes before the signer addresses in the config code: STOP, threshold, n, maxReportAge.
    uint256 private constant CONFIG_HEADER = 7;
    /// @dev One signature in `transmit`: r (32), yParityAndS (32), signer index (1).
    uint256 private constant SIGNATURE_BYTES = 65;
    uint256 private constant S_MASK = 0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff;

    /// @inheritdoc AggregatorV3Interface
    uint8 public immutable override decimals;
    /// @inheritdoc AggregatorV3Interface
    string public override description;
    address public owner;
    /// @dev The hot slot, read and written once per transmit: the config contract (bits 0–159),
    /// the latest round (160–191) and the latest accepted window (192–255).
    uint256 private hot;
    /// @dev Round => answer (int192, bits 0–191), windowStart (192–223), updatedAt (224–255).
    /// A round with data is never zero: updatedAt is a block time.
    mapping(uint256 => uint256) private rounds;

    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    /// @notice The signer set changed; signer i signs with index i.
    event SignersSet(address[] signers, uint8 threshold);
    event MaxReportAgeSet(uint32 maxReportAge);
    /// @notice A report was accepted as round `roundId`; the attestations behind `idsHash` let
    /// anyone recompute `answer`.
    event NewTransmission(
        uint80 indexed roundId, uint64 window, int192 answer, uint32 observations, bytes32 idsHash, address transmitter
    );

    error NotOwner(address caller);
    error ZeroAddress();
    error InvalidDecimals(uint8 decimals);
    error InvalidMaxReportAge(uint32 maxReportAge);
    error TooManySigners(uint256 signers, uint256 max);
    /// @notice Needs 1 <= threshold <= n and threshold >= f + 1, f = floor((n - 1) / 3).
    error InvalidThreshold(uint256 threshold, uint256 signers);
    error InvalidSignerAddress(uint256 index);
    error DuplicateSignerAddress(address signer);
    error MalformedSignatures(uint256 length);
    error TooFewSignatures(uint256 signatures, uint256 threshold);
    error SignerIndexOutOfRange(uint256 position, uint256 index);
    error DuplicateSigner(uint256 position, uint256 index);
    /// @notice Signature `position` does not recover to the signer at the index it names.
    error SignatureMismatch(uint256 position, address recovered);
    error OldReport(uint64 window, uint64 latestWindow);
    error StaleReport(uint64 windowEnd, uint32 maxReportAge, uint256 blockTime);
    error InvalidWindowBounds(uint64 windowStart, uint64 windowEnd);
    error NoObservations();
    error NoDataPresent(uint256 roundId);
    error ConfigDeployFailed();

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    constructor(
        uint8 decimals_,
        string memory description_,
        address[] memory signers_,
        uint8 threshold_,
        uint32 maxReportAge_
    ) {
        if (decimals_ > 18) revert InvalidDecimals(decimals_);
        decimals = decimals_;
        description = description_;
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
        _setConfig(signers_, threshold_, maxReportAge_);
    }

    /// @inheritdoc AggregatorV3Interface
    function version() external pure override returns (uint256) {
        return 1;
    }

    // ---- administration (owner) ----

    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert ZeroAddress();
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    /// @notice Replaces the signer set; signer i signs with index i. Reports signed by the old set
    /// are refused from now on; the round and window counts go on.
    function setSigners(address[] calldata signers_, uint8 threshold_) external onlyOwner {
        _setConfig(signers_, threshold_, maxReportAge());
    }

    /// @notice How long after its window ends a report may still be accepted, in seconds.
    function setMaxReportAge(uint32 maxReportAge_) external onlyOwner {
        _setConfig(signers(), threshold(), maxReportAge_);
    }

    function _setConfig(address[] memory signers_, uint8 threshold_, uint32 maxReportAge_) private {
        uint256 n = signers_.length;
        if (n > MAX_SIGNERS) revert TooManySigners(n, MAX_SIGNERS);
        if (threshold_ == 0 || threshold_ > n || threshold_ < (n - 1) / 3 + 1) {
            revert InvalidThreshold(threshold_, n);
        }
        if (maxReportAge_ == 0) revert InvalidMaxReportAge(maxReportAge_);
        for (uint256 i = 0; i < n; i++) {
            if (signers_[i] == address(0)) revert InvalidSignerAddress(i);
            for (uint256 j = 0; j < i; j++) {
                if (signers_[j] == signers_[i]) revert DuplicateSignerAddress(signers_[i]);
            }
        }
        address config = _deployConfig(_encodeConfig(signers_, threshold_, maxReportAge_));
        hot = (hot & ~uint256(type(uint160).max)) | uint160(config);
        emit SignersSet(signers_, threshold_);
        emit MaxReportAgeSet(maxReportAge_);
    }

    /// @dev The config code: STOP, threshold, n, maxReportAge (4 bytes), then the signers, 20 bytes
    /// each (abi.encodePacked would pad each array element to 32 bytes).
    function _encodeConfig(address[] memory signers_, uint8 threshold_, uint32 maxReportAge_)
        private
        pure
        returns (bytes memory data)
    {
        uint256 n = signers_.length;
        // 12 spare bytes: each signer is written with a 32-byte store.
        data = new bytes(CONFIG_HEADER + 20 * n + 12);
        assembly ("memory-safe") {
            let at := add(data, 32)
            mstore(at, or(shl(240, threshold_), or(shl(232, n), shl(200, maxReportAge_))))
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                mstore(add(at, add(CONFIG_HEADER, mul(i, 20))), shl(96, mload(add(signers_, mul(add(i, 1), 32)))))
            }
            mstore(data, add(CONFIG_HEADER, mul(n, 20)))
        }
    }

    /// @dev Deploys `data` as the code of a new contract. The code starts with STOP, so calling it
    /// does nothing. Init code: PUSH2 len, DUP1, PUSH1 12, PUSH1 0, CODECOPY, PUSH1 0, RETURN.
    function _deployConfig(bytes memory data) private returns (address config) {
        bytes memory init = abi.encodePacked(hex"61", uint16(data.length), hex"80600c6000396000f3", data);
        assembly ("memory-safe") {
            config := create(0, add(init, 32), mload(init))
        }
        if (config == address(0)) revert ConfigDeployFailed();
    }

    // ---- configuration (views) ----

    /// @notice The signers, in index order.
    function signers() public view returns (address[] memory list) {
        bytes memory code = _config();
        uint256 n = uint8(code[2]);
        list = new address[](n);
        for (uint256 i = 0; i < n; i++) {
            address signer;
            assembly ("memory-safe") {
                signer := shr(96, mload(add(add(code, 32), add(CONFIG_HEADER, mul(i, 20)))))
            }
            list[i] = signer;
        }
    }

    /// @notice How many distinct signers' signatures a report needs.
    function threshold() public view returns (uint8) {
        return uint8(_config()[1]);
    }

    /// @notice How long after its window ends a report may still be accepted, in seconds.
    function maxReportAge() public view returns (uint32) {
        bytes memory code = _config();
        return uint32(bytes4(abi.encodePacked(code[3], code[4], code[5], code[6])));
    }

    /// @notice The latest round with data (0: none yet).
    function latestRound() public view returns (uint256) {
        return uint32(hot >> 160);
    }

    /// @notice The window of the latest accepted report (0: none yet).
    function latestWindow() public view returns (uint64) {
        return uint64(hot >> 192);
    }

    function _config() private view returns (bytes memory) {
        return address(uint160(hot)).code;
    }

    // ---- reports ----

    /// @notice The digest the signers sign for `report` on this chain and this aggregator.
    function reportDigest(Report calldata report) public view returns (bytes32) {
        return keccak256(abi.encode(REPORT_TYPEHASH, block.chainid, address(this), report));
    }

    /// @notice Accepts a report as the next round. `signatures` holds, per signer, 65 bytes:
    /// r, yParityAndS (EIP-2098) and the signer's index in `signers()`; at least `threshold`
    /// of them, by distinct signers. Anyone may call.
    function transmit(Report calldata report, bytes calldata signatures) external {
        uint256 state = hot;
        address config = address(uint160(state));
        {
            uint64 latest = uint64(state >> 192);
            if (report.window <= latest) revert OldReport(report.window, latest);
        }
        if (report.windowStart >= report.windowEnd || report.windowEnd > type(uint32).max) {
            revert InvalidWindowBounds(report.windowStart, report.windowEnd);
        }
        if (report.observations == 0) revert NoObservations();

        // The whole config (header and every signer) in one copy: one cold account access.
        uint256 code;
        uint256 header;
        assembly ("memory-safe") {
            code := mload(0x40)
            let size := extcodesize(config)
            extcodecopy(config, code, 0, size)
            mstore(0x40, add(code, size))
            header := mload(code)
        }
        {
            uint32 maxAge = uint32(header >> 200);
            if (uint256(report.windowEnd) + maxAge < block.timestamp) {
                revert StaleReport(report.windowEnd, maxAge, block.timestamp);
            }
        }
        _checkSignatures(reportDigest(report), signatures, code, header);

        uint256 round = uint32(state >> 160) + 1;
        rounds[round] = uint256(uint192(report.answer)) | (uint256(report.windowStart) << 192)
            | (uint256(uint32(block.timestamp)) << 224);
        hot = uint256(uint160(config)) | (round << 160) | (uint256(report.window) << 192);
        emit NewTransmission(
            uint80(round), report.window, report.answer, report.observations, report.idsHash, msg.sender
        );
    }

    /// @dev Checks that `signatures` holds at least `threshold` signatures of `digest` by distinct
    /// signers of the config copied at memory `code` (its first word in `header`).
    function _checkSignatures(bytes32 digest, bytes calldata signatures, uint256 code, uint256 header)
        private
        view
    {
        uint256 count = signatures.length / SIGNATURE_BYTES;
        if (count * SIGNATURE_BYTES != signatures.length) revert MalformedSignatures(signatures.length);
        {
            uint256 needed = uint8(header >> 240);
            if (count < needed) revert TooFewSignatures(count, needed);
        }
        uint256 n = uint8(header >> 232);
        // One loop in assembly: per signature, a byte for the index, a bit in `seen` for
        // duplicates, one ecrecover and one comparison. It stops at the first failure and says
        // which (1 index out of range, 2 duplicate index, 3 mismatch), where, and with what value.
        uint256 failure;
        uint256 position;
        uint256 value;
        assembly ("memory-safe") {
            // ecrecover's input (digest, v, r, s) at free memory, not kept: nothing is allocated after.
            let input := mload(0x40)
            mstore(input, digest)
            let seen := 0
            let end := add(signatures.offset, mul(count, SIGNATURE_BYTES))
            for { let offset := signatures.offset } lt(offset, end) { offset := add(offset, SIGNATURE_BYTES) } {
                let index := byte(0, calldataload(add(offset, 64)))
                if iszero(lt(index, n)) {
                    failure := 1
                    value := index
                    break
                }
                let bit := shl(index, 1)
                if and(seen, bit) {
                    failure := 2
                    value := index
                    break
                }
                seen := or(seen, bit)
                let vs := calldataload(add(offset, 32))
                mstore(add(input, 32), add(shr(255, vs), 27))
                mstore(add(input, 64), calldataload(offset))
                mstore(add(input, 96), and(vs, S_MASK))
                // A failed recovery returns no data: the output word is cleared first. Signers are
                // never address(0), so a failed recovery never matches.
                mstore(0, 0)
                pop(staticcall(gas(), 1, input, 128, 0, 32))
                let recovered := mload(0)
                if iszero(eq(recovered, shr(96, mload(add(code, add(CONFIG_HEADER, mul(index, 20))))))) {
                    failure := 3
                    value := recovered
                    break
                }
                position := add(position, 1)
            }
        }
        if (failure == 1) revert SignerIndexOutOfRange(position, value);
        if (failure == 2) revert DuplicateSigner(position, value);
        if (failure == 3) revert SignatureMismatch(position, address(uint160(value)));
    }

    // ---- reads (AggregatorV3Interface) ----

    /// @inheritdoc AggregatorV3Interface
    function getRoundData(uint80 roundId_)
        external
        view
        override
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        return _round(roundId_);
    }

    /// @inheritdoc AggregatorV3Interface
    function latestRoundData()
        external
        view
        override
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        return _round(uint80(latestRound()));
    }

    function _round(uint80 roundId)
        private
        view
        returns (uint80, int256 answer, uint256 startedAt, uint256 updatedAt, uint80)
    {
        uint256 word = rounds[roundId];
        if (word == 0) revert NoDataPresent(roundId);
        answer = int192(uint192(word));
        startedAt = uint32(word >> 192);
        updatedAt = uint32(word >> 224);
        return (roundId, answer, startedAt, updatedAt, roundId);
    }
}
