// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title OcrBaseline: for the gas benchmark only. Accepts median reports the way Chainlink's
/// OCR (v1) OffchainAggregator does, written for the bench: same report format and checks, minus
/// what FeedAggregator has no counterpart for (transmitter allow-list, payments and gas
/// reimbursement, min/max answer bounds, validator hook). Not for use.
/// @notice report = abi.encode(bytes32 rawReportContext, bytes32 rawObservers, int192[] observations):
/// rawReportContext = 11 zero bytes, 16-byte config digest, 4-byte epoch, 1-byte round;
/// rawObservers = one oracle index per observation; observations sorted ascending, their median
/// observations[n/2] is the answer. f + 1 oracles sign keccak256(report) (ECDSA, v in rawVs).
contract OcrBaseline {
    enum Role {
        Unset,
        Signer
    }

    struct Oracle {
        uint8 index;
        Role role;
    }

    /// @dev Read and written once per transmission, in one slot.
    struct HotVars {
        bytes16 latestConfigDigest;
        uint40 latestEpochAndRound;
        uint8 threshold;
        uint32 latestAggregatorRoundId;
    }

    struct Transmission {
        int192 answer;
        uint64 timestamp;
    }

    uint256 private constant MAX_ORACLES = 31;

    address public owner;
    uint32 private configCount;
    HotVars internal hotVars;
    mapping(address => Oracle) internal oracles;
    address[] internal signerList;
    mapping(uint32 => Transmission) internal transmissions;

    event ConfigSet(bytes16 configDigest, address[] signers, uint8 threshold);
    event NewTransmission(
        uint32 indexed aggregatorRoundId,
        int192 answer,
        address transmitter,
        int192[] observations,
        bytes observers,
        bytes32 rawReportContext
    );

    constructor() {
        owner = msg.sender;
    }

    /// @notice Registers the signers and f (`threshold`: a report needs f + 1 signatures).
    function setConfig(address[] calldata signers, uint8 threshold) external {
        require(msg.sender == owner, "only owner");
        require(signers.length <= MAX_ORACLES, "too many signers");
        require(signers.length > 3 * uint256(threshold), "faulty-oracle threshold too high");
        require(threshold > 0, "threshold must be positive");
        for (uint256 i = 0; i < signerList.length; i++) {
            delete oracles[signerList[i]];
        }
        for (uint256 i = 0; i < signers.length; i++) {
            require(oracles[signers[i]].role == Role.Unset, "repeated signer address");
            oracles[signers[i]] = Oracle(uint8(i), Role.Signer);
        }
        signerList = signers;
        configCount++;
        bytes16 digest =
            bytes16(keccak256(abi.encode(block.chainid, address(this), configCount, signers, threshold)));
        hotVars.latestConfigDigest = digest;
        hotVars.latestEpochAndRound = 0;
        hotVars.threshold = threshold;
        emit ConfigSet(digest, signers, threshold);
    }

    /// @notice The current config digest (the report context's 16 bytes).
    function latestConfigDigest() external view returns (bytes16) {
        return hotVars.latestConfigDigest;
    }

    function latestAnswer() external view returns (int256) {
        return transmissions[hotVars.latestAggregatorRoundId].answer;
    }

    function transmit(bytes calldata report, bytes32[] calldata rs, bytes32[] calldata ss, bytes32 rawVs) external {
        HotVars memory hot = hotVars;
        (bytes32 rawReportContext, bytes32 rawObservers, int192[] memory observations) =
            abi.decode(report, (bytes32, bytes32, int192[]));
        {
            bytes16 configDigest = bytes16(rawReportContext << 88);
            require(hot.latestConfigDigest == configDigest, "configDigest mismatch");
            uint40 epochAndRound = uint40(uint256(rawReportContext));
            require(hot.latestEpochAndRound < epochAndRound, "stale report");
            hot.latestEpochAndRound = epochAndRound;
        }
        require(rs.length > hot.threshold, "not enough signatures");
        require(rs.length <= MAX_ORACLES, "too many signatures");
        require(ss.length == rs.length, "signatures out of registration");
        require(observations.length <= MAX_ORACLES, "num observations out of bounds");
        require(observations.length > 2 * uint256(hot.threshold), "too few values to trust median");

        bytes memory observers = new bytes(observations.length);
        {
            bool[MAX_ORACLES] memory seen;
            for (uint256 i = 0; i < observations.length; i++) {
                uint8 observer = uint8(rawObservers[i]);
                require(!seen[observer], "observer index repeated");
                seen[observer] = true;
                observers[i] = rawObservers[i];
            }
        }
        _verifySignatures(keccak256(report), rs, ss, rawVs);
        for (uint256 i = 0; i + 1 < observations.length; i++) {
            require(observations[i] <= observations[i + 1], "observations not sorted");
        }
        int192 median = observations[observations.length / 2];
        hot.latestAggregatorRoundId++;
        transmissions[hot.latestAggregatorRoundId] = Transmission(median, uint64(block.timestamp));
        hotVars = hot;
        emit NewTransmission(hot.latestAggregatorRoundId, median, msg.sender, observations, observers, rawReportContext);
    }

    function _verifySignatures(bytes32 h, bytes32[] calldata rs, bytes32[] calldata ss, bytes32 rawVs) private view {
        bool[MAX_ORACLES] memory signed;
        for (uint256 i = 0; i < rs.length; i++) {
            address signer = ecrecover(h, uint8(rawVs[i]) + 27, rs[i], ss[i]);
            Oracle memory o = oracles[signer];
            require(o.role == Role.Signer, "address not authorized to sign");
            require(!signed[o.index], "non-unique signature");
            signed[o.index] = true;
        }
    }
}
