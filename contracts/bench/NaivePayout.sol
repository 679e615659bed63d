// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

interface IERC20Transfer {
    function transfer(address to, uint256 amount) external returns (bool);
}

/// @title NaivePayout: for the gas benchmark only. Pays every payee with one token transfer in a
/// loop, as the original RWA contract did; no signatures, no checks. Not for use.
contract NaivePayout {
    function payout(address token, address[] calldata payees, uint256[] calldata amounts) external {
        for (uint256 i = 0; i < payees.length; i++) {
            require(IERC20Transfer(token).transfer(payees[i], amounts[i]), "transfer failed");
        }
    }
}
