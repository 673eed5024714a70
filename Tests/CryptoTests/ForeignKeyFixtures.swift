/// Keys and requests made with the `openssl` CLI that swarmctl must refuse (P-256 only, no encrypted keys).
enum ForeignKeyFixtures {
    /// `openssl ecparam -name secp384r1 -genkey | openssl pkcs8 -topk8 -nocrypt`
    static let p384Key = """
        -----BEGIN PRIVATE KEY-----
        MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDCRexqZ29+scOHpYaE8
        8vqZLop/VNhEnXaoK2jCDgZCYeXAlkltxKAV5C0MRMFkhTGhZANiAATWEC6Hb3/v
        w58MEOF8GQJLrQgsr2pAu5tz/ftKRL9TByzEqIh6yQwnQHHurWtwSz7aOG2gsDIo
        3ybAfCcYgn1yFEiWc1RuKZ/hyq/5QrSxmAlOhZF45b6PI0payPYBevM=
        -----END PRIVATE KEY-----

        """
    /// `openssl req -new -key <the P-384 key> -subj /CN=node-x` (validly self-signed).
    static let p384Request = """
        -----BEGIN CERTIFICATE REQUEST-----
        MIIBCTCBkAIBADARMQ8wDQYDVQQDDAZub2RlLXgwdjAQBgcqhkjOPQIBBgUrgQQA
        IgNiAATWEC6Hb3/vw58MEOF8GQJLrQgsr2pAu5tz/ftKRL9TByzEqIh6yQwnQHHu
        rWtwSz7aOG2gsDIo3ybAfCcYgn1yFEiWc1RuKZ/hyq/5QrSxmAlOhZF45b6PI0pa
        yPYBevOgADAKBggqhkjOPQQDAgNoADBlAjEAiUHLhgtb7iforMphY8EUnyAFS3fA
        2AGACanS1n8WPzgLVJVEmk9Zt7/RexhvaA26AjB3Z23bbenND5nvwdCucCqyxa1X
        Dyud+lfUPvo1tgAp3P6eyKMJPFR2zLrXNOjorwE=
        -----END CERTIFICATE REQUEST-----

        """
    /// A P-256 key encrypted with the passphrase "secret" (`openssl pkcs8 -topk8 -passout pass:secret`).
    static let encryptedP256Key = """
        -----BEGIN ENCRYPTED PRIVATE KEY-----
        MIHsMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAg1OBIPLGaMgQICCAAw
        DAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEEOWuAiehB8ipudTQGHOKHJIEgZAi
        pBYwfkW8UaFVQ7ymsV2x+lVFxXHViwJLbCAZZKCMWdieTQRILh4k+P+w7q9WlyKq
        Xay0NAvWGWOcNf3juqihFLBBSC9709aHZyQLiwosXAqbCxdgv/42YDDmHQ5zKK11
        D2tbVNWok0fHCd4FnIlXdj/InraX2nU0KQzb3vMhNSadYToy5GLm7tVKieCOGjM=
        -----END ENCRYPTED PRIVATE KEY-----

        """
}
