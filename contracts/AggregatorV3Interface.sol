// SPDX-License-Identifier: MIT
pragma solidity ^0.8.0;

/// @title AggregatorV3Interface: the read side of a price feed, as Chainlink publishes it.
/// @notice Same names, parameters and return types as Chainlink's AggregatorV3Interface, so a
/// consumer written against Chainlink's feeds compiles and runs against FeedAggregator unchanged.
interface AggregatorV3Interface {
    /// @notice How many decimals the answers carry (an answer of 250012000000 with 8 is 2500.12).
    function decimals() external view returns (uint8);

    /// @notice What the feed measures, e.g. "ETH / USD".
    function description() external view returns (string memory);

    /// @notice The version of the aggregator's code.
    function version() external view returns (uint256);

    /// @notice One round's answer; reverts when the round has no data.
    function getRoundData(uint80 _roundId)
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound);

    /// @notice The latest round's answer; reverts when no round has data yet.
    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound);
}
