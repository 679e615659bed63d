// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @notice The parts of ERC-20 the chequebook calls.
interface IChequebookToken {
    function balanceOf(address owner) external view returns (uint256);
    function transfer(address to, uint256 amount) external returns (bool);
}

/// @title Chequebook: SWAP cheques over one ERC-20, with Swarm's ERC20SimpleSwap interface.
/// @notice Same public functions, events and signed messages as Swarm's ERC20SimpleSwap
/// (swap-swear-and-swindle), so that cheques a Bee node signs or cashes work against it; our own
/// code. The issuer funds the chequebook by sending it tokens, and pays a beneficiary off-chain by
/// signing ever larger cumulative amounts (EIP-712, domain `EIP712Domain(string name,string
/// version,uint256 chainId)` = ("Chequebook", "1.0", chain id), no verifyingContract):
///   Cheque(address chequebook,address beneficiary,uint256 cumulativePayout)
/// Cashing pays min(cumulativePayout − paidOut[beneficiary], liquidBalanceFor(beneficiary)); a
/// shortfall sets the permanent `bounced` flag and emits ChequeBounced. A hard deposit reserves
/// part of the balance for one beneficiary; the issuer can only take it back after a timeout, so
/// the beneficiary has time to cash what it holds.
/// @dev Differences from the original, none visible to its clients: a constructor instead of
/// `init` and no immutables, so every chequebook has the same runtime code (a receiver checks a
/// peer's chequebook by its code hash); refusals are custom errors with their values; `withdraw`
/// emits Withdraw; a decrease prepared before a cash that used the hard deposit takes what is
/// left instead of reverting for ever; a timeout past the end of time saturates; zero transfers
/// are skipped. Signatures must be 65 bytes r ‖ s ‖ v with v 27 or 28 and a low s, as
/// OpenZeppelin's ECDSA (which the original uses) demands.
contract Chequebook {
    /// @dev Reserved for one beneficiary; `decreaseAmount` applies from `canBeDecreasedAt` on.
    struct HardDeposit {
        uint256 amount;
        uint256 decreaseAmount;
        /// @dev Seconds a decrease waits; 0 means the chequebook's default.
        uint256 timeout;
        /// @dev 0 when no decrease is prepared.
        uint256 canBeDecreasedAt;
    }

    bytes32 public constant EIP712DOMAIN_TYPEHASH = keccak256("EIP712Domain(string name,string version,uint256 chainId)");
    bytes32 public constant CHEQUE_TYPEHASH =
        keccak256("Cheque(address chequebook,address beneficiary,uint256 cumulativePayout)");
    bytes32 public constant CASHOUT_TYPEHASH = keccak256(
        "Cashout(address chequebook,address sender,uint256 requestPayout,address recipient,uint256 callerPayout)"
    );
    bytes32 public constant CUSTOMDECREASETIMEOUT_TYPEHASH =
        keccak256("CustomDecreaseTimeout(address chequebook,address beneficiary,uint256 decreaseTimeout)");
    bytes32 private constant NAME_HASH = keccak256("Chequebook");
    bytes32 private constant VERSION_HASH = keccak256("1.0");
    /// @dev secp256k1's group order halved: a larger s is the malleable twin of a valid signature.
    uint256 private constant HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    /// @notice Who signs cheques, withdraws and manages hard deposits.
    address public issuer;
    /// @notice Set for ever once a cheque could not be paid in full.
    bool public bounced;
    /// @notice The ERC-20 the cheques pay in.
    IChequebookToken public token;
    /// @notice Seconds a hard deposit decrease waits, unless the beneficiary agreed to another.
    uint256 public defaultHardDepositTimeout;
    /// @notice What each beneficiary has been paid so far (cheques are cumulative).
    mapping(address => uint256) public paidOut;
    uint256 public totalPaidOut;
    mapping(address => HardDeposit) public hardDeposits;
    uint256 public totalHardDeposit;

    event ChequeCashed(
        address indexed beneficiary,
        address indexed recipient,
        address indexed caller,
        uint256 totalPayout,
        uint256 cumulativePayout,
        uint256 callerPayout
    );
    event ChequeBounced();
    event HardDepositAmountChanged(address indexed beneficiary, uint256 amount);
    event HardDepositDecreasePrepared(address indexed beneficiary, uint256 decreaseAmount);
    event HardDepositTimeoutChanged(address indexed beneficiary, uint256 timeout);
    event Withdraw(uint256 amount);

    error ZeroIssuer();
    /// @notice The token address holds no contract.
    error NotAToken(address token);
    error NotIssuer(address caller, address issuer);
    /// @notice Not 65 bytes r ‖ s ‖ v with v 27 or 28 and a low s, or it recovers no address.
    error MalformedSignature(uint256 length);
    /// @notice The cheque is signed by `signer`, not by the issuer.
    error NotIssuerSignature(address signer, address issuer);
    /// @notice The cash-out (or timeout) is signed by `signer`, not by the beneficiary.
    error NotBeneficiarySignature(address signer, address beneficiary);
    /// @notice The cheque's cumulative payout is below what the beneficiary was already paid.
    error CumulativeBelowPaidOut(uint256 cumulativePayout, uint256 paidOut);
    error CallerPayoutAbovePayout(uint256 callerPayout, uint256 totalPayout);
    error AboveLiquidBalance(uint256 amount, uint256 liquidBalance);
    error HardDepositAboveBalance(uint256 totalHardDeposit, uint256 balance);
    error DecreaseAboveHardDeposit(address beneficiary, uint256 decreaseAmount, uint256 hardDeposit);
    error NoDecreasePrepared(address beneficiary);
    error DecreaseNotDue(address beneficiary, uint256 canBeDecreasedAt, uint256 timestamp);
    error TokenTransferFailed();

    modifier onlyIssuer() {
        if (msg.sender != issuer) revert NotIssuer(msg.sender, issuer);
        _;
    }

    constructor(address issuer_, address token_, uint256 defaultHardDepositTimeout_) {
        if (issuer_ == address(0)) revert ZeroIssuer();
        if (token_.code.length == 0) revert NotAToken(token_);
        issuer = issuer_;
        token = IChequebookToken(token_);
        defaultHardDepositTimeout = defaultHardDepositTimeout_;
    }

    /// @notice The tokens the chequebook holds.
    function balance() public view returns (uint256) {
        return token.balanceOf(address(this));
    }

    /// @notice The part of the balance no hard deposit reserves.
    function liquidBalance() public view returns (uint256) {
        uint256 held = balance();
        uint256 reserved = totalHardDeposit;
        return held > reserved ? held - reserved : 0;
    }

    /// @notice What a cheque to `beneficiary` can draw on: the liquid balance and its hard deposit.
    function liquidBalanceFor(address beneficiary) public view returns (uint256) {
        return liquidBalance() + hardDeposits[beneficiary].amount;
    }

    /// @notice Cashes a cheque to the caller, paying `recipient`.
    function cashChequeBeneficiary(address recipient, uint256 cumulativePayout, bytes calldata issuerSig) external {
        _cash(msg.sender, recipient, cumulativePayout, 0, issuerSig);
    }

    /// @notice Cashes a cheque for `beneficiary`, who signed a Cashout naming the caller, the
    /// recipient and the caller's reward `callerPayout` (taken out of the payout).
    function cashCheque(
        address beneficiary,
        address recipient,
        uint256 cumulativePayout,
        bytes calldata beneficiarySig,
        uint256 callerPayout,
        bytes calldata issuerSig
    ) external {
        bytes32 cashout = keccak256(
            abi.encode(CASHOUT_TYPEHASH, address(this), msg.sender, cumulativePayout, recipient, callerPayout)
        );
        address signer = _recover(cashout, beneficiarySig);
        if (signer != beneficiary) revert NotBeneficiarySignature(signer, beneficiary);
        _cash(beneficiary, recipient, cumulativePayout, callerPayout, issuerSig);
    }

    /// @notice Sends `amount` of the liquid balance to the issuer.
    function withdraw(uint256 amount) external onlyIssuer {
        uint256 liquid = liquidBalance();
        if (amount > liquid) revert AboveLiquidBalance(amount, liquid);
        _transfer(msg.sender, amount);
        emit Withdraw(amount);
    }

    /// @notice Reserves `amount` more of the balance for `beneficiary`; cancels a prepared decrease.
    function increaseHardDeposit(address beneficiary, uint256 amount) external onlyIssuer {
        uint256 total = totalHardDeposit + amount;
        uint256 held = balance();
        if (total > held) revert HardDepositAboveBalance(total, held);
        HardDeposit storage deposit = hardDeposits[beneficiary];
        uint256 reserved = deposit.amount + amount;
        deposit.amount = reserved;
        deposit.canBeDecreasedAt = 0;
        totalHardDeposit = total;
        emit HardDepositAmountChanged(beneficiary, reserved);
    }

    /// @notice Announces a decrease of `beneficiary`'s hard deposit, possible once its timeout passed.
    function prepareDecreaseHardDeposit(address beneficiary, uint256 decreaseAmount) external onlyIssuer {
        HardDeposit storage deposit = hardDeposits[beneficiary];
        if (decreaseAmount > deposit.amount) {
            revert DecreaseAboveHardDeposit(beneficiary, decreaseAmount, deposit.amount);
        }
        uint256 timeout = deposit.timeout == 0 ? defaultHardDepositTimeout : deposit.timeout;
        // A timeout beyond uint256 means never; saturate rather than overflow.
        deposit.canBeDecreasedAt =
            timeout > type(uint256).max - block.timestamp ? type(uint256).max : block.timestamp + timeout;
        deposit.decreaseAmount = decreaseAmount;
        emit HardDepositDecreasePrepared(beneficiary, decreaseAmount);
    }

    /// @notice Applies a prepared decrease whose time has come (anyone may).
    function decreaseHardDeposit(address beneficiary) external {
        HardDeposit storage deposit = hardDeposits[beneficiary];
        uint256 due = deposit.canBeDecreasedAt;
        if (due == 0) revert NoDecreasePrepared(beneficiary);
        if (block.timestamp < due) revert DecreaseNotDue(beneficiary, due, block.timestamp);
        uint256 reserved = deposit.amount;
        // A cash since the preparation may have used part of the deposit: take what is left.
        uint256 decrease = deposit.decreaseAmount < reserved ? deposit.decreaseAmount : reserved;
        deposit.amount = reserved - decrease;
        deposit.canBeDecreasedAt = 0;
        totalHardDeposit -= decrease;
        emit HardDepositAmountChanged(beneficiary, reserved - decrease);
    }

    /// @notice Sets how long decreases of `beneficiary`'s hard deposit wait, as it signed.
    function setCustomHardDepositTimeout(address beneficiary, uint256 hardDepositTimeout, bytes calldata beneficiarySig)
        external
        onlyIssuer
    {
        bytes32 agreed = keccak256(
            abi.encode(CUSTOMDECREASETIMEOUT_TYPEHASH, address(this), beneficiary, hardDepositTimeout)
        );
        address signer = _recover(agreed, beneficiarySig);
        if (signer != beneficiary) revert NotBeneficiarySignature(signer, beneficiary);
        hardDeposits[beneficiary].timeout = hardDepositTimeout;
        emit HardDepositTimeoutChanged(beneficiary, hardDepositTimeout);
    }

    /// @dev Checks the issuer's consent, pays what the cheque adds (as far as the funds go) and records it.
    function _cash(
        address beneficiary,
        address recipient,
        uint256 cumulativePayout,
        uint256 callerPayout,
        bytes calldata issuerSig
    ) private {
        address issuer_ = issuer;
        // The issuer consents by signing, or by sending the transaction itself.
        if (msg.sender != issuer_) {
            bytes32 cheque = keccak256(abi.encode(CHEQUE_TYPEHASH, address(this), beneficiary, cumulativePayout));
            address signer = _recover(cheque, issuerSig);
            if (signer != issuer_) revert NotIssuerSignature(signer, issuer_);
        }
        uint256 paid = paidOut[beneficiary];
        if (cumulativePayout < paid) revert CumulativeBelowPaidOut(cumulativePayout, paid);
        uint256 requestPayout = cumulativePayout - paid;
        uint256 reserved = hardDeposits[beneficiary].amount;
        uint256 available = liquidBalance() + reserved;
        uint256 totalPayout = requestPayout < available ? requestPayout : available;
        if (callerPayout > totalPayout) revert CallerPayoutAbovePayout(callerPayout, totalPayout);
        // The beneficiary's hard deposit pays first: it is reserved for exactly this.
        uint256 fromDeposit = totalPayout < reserved ? totalPayout : reserved;
        if (fromDeposit != 0) {
            hardDeposits[beneficiary].amount = reserved - fromDeposit;
            totalHardDeposit -= fromDeposit;
        }
        paidOut[beneficiary] = paid + totalPayout;
        totalPaidOut += totalPayout;
        if (requestPayout != totalPayout) {
            bounced = true;
            emit ChequeBounced();
        }
        if (callerPayout != 0) _transfer(msg.sender, callerPayout);
        if (totalPayout != callerPayout) _transfer(recipient, totalPayout - callerPayout);
        emit ChequeCashed(beneficiary, recipient, msg.sender, totalPayout, cumulativePayout, callerPayout);
    }

    /// @dev The signer of an EIP-712 struct hash under this chain's Chequebook domain.
    function _recover(bytes32 structHash, bytes calldata signature) private view returns (address signer) {
        if (signature.length != 65) revert MalformedSignature(signature.length);
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        if ((v != 27 && v != 28) || uint256(s) > HALF_ORDER) revert MalformedSignature(65);
        bytes32 separator = keccak256(abi.encode(EIP712DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid));
        signer = ecrecover(keccak256(abi.encodePacked("\x19\x01", separator, structHash)), v, r, s);
        if (signer == address(0)) revert MalformedSignature(65);
    }

    /// @dev Sends tokens; a token revert is passed on as is, a `false` refused.
    function _transfer(address to, uint256 amount) private {
        (bool ok, bytes memory result) = address(token).call(abi.encodeCall(IChequebookToken.transfer, (to, amount)));
        if (!ok) {
            assembly {
                revert(add(result, 32), mload(result))
            }
        }
        if (result.length > 0 && !abi.decode(result, (bool))) revert TokenTransferFailed();
    }
}
