// SPDX-License-Identifier: Apache-2.0
// Public keys of fixed secp256k1 test secrets (computed with noble-curves; Hardhat has no
// createWallet cheatcode). Every use checks the key against vm.addr, so a wrong entry fails.
pragma solidity ^0.8.24;

library K1Keys {
    function publicKey(uint256 sk) internal pure returns (bytes32 x, bytes32 y) {
        if (sk == 0xC0FFEE) return (0x2a5bbcb0eede528e6abe5f2ec50ad7887eb5677af383a460b05ee23bf892dfe5, 0x52c93747550eda8404c8b473786c00dfd8fd1ef4bc033f359ccf5b77bd656d21);
        if (sk == 0xA1) return (0xcc8704b8a60a0defa3a99a7299f2e9c3fbc395afb04ac078425ef8a1793cc030, 0xbdd46039feed17881d1e0862db347f8cf395b74fc4bcdc4e940b74e3ac1f1b13);
        if (sk == 0xA2) return (0xfbaf4eb5bdf8fe9397a3b8bc51bfa27183ff4ac34a966eb822109700780a7943, 0x36e7ff517ad79fab6571de2ed92bcc048209f6506fe4c0ff52c0bb205d654a9d);
        if (sk == 0xA3) return (0xc533e4f7ea8555aacd9777ac5cad29b97dd4defccc53ee7ea204119b2889b197, 0x6f0a256bc5efdf429a2fb6242f1a43a2d9b925bb4a4b3a26bb8e0f45eb596096);
        if (sk == 0xA4) return (0xf62885ce55ff7be291dd96717159e106b77beeb53920db82a218a7bda715e7ba, 0x74eb8317416fe8fd656df2f95983cff252bfe6a7b0deab607eb8538d1da95407);
        revert("K1Keys: no public key for this secret");
    }
}

