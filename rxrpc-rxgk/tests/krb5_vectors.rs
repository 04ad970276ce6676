//! Known-answer tests of the Kerberos crypto layer, from the RFCs' own test vectors:
//!
//! * RFC 3961 appendix A.1 (n-fold);
//! * RFC 3962 appendix B (AES CBC-CTS with the key "chicken teriyaki"; the DK step of
//!   string-to-key, `key = DK(tkey, "kerberos")`, with the PBKDF2 outputs the appendix lists);
//! * RFC 8009 appendix A (key derivation, PRF, encryption, checksums for enctypes 19 and 20);
//! * RFC 6803 section 10 (key derivation, encryption, checksums for enctypes 25 and 26).

// These tests expect integrity checks to fail; the `fuzzing` feature turns them off.
#![cfg(not(feature = "fuzzing"))]

use rxrpc_rxgk::hex;
use rxrpc_rxgk::krb5::{ChecksumKey, EncryptionKey, Enctype, Key, KeyRole, nfold};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).expect("hex")
}

fn conf(s: &str) -> [u8; 16] {
    h(s).try_into().expect("16-byte confounder")
}

/// RFC 3961 appendix A.1.
#[test]
fn rfc3961_a1_nfold() {
    let cases: &[(&[u8], usize, &str)] = &[
        (b"012345", 64, "be072631276b1955"),
        (b"password", 56, "78a07b6caf85fa"),
        (b"Rough Consensus, and Running Code", 64, "bb6ed30870b7f0e0"),
        (
            b"password",
            168,
            "59e4a8ca7c0385c3c37b3f6d2000247cb6e6bd5b3e",
        ),
        (
            b"MASSACHVSETTS INSTITVTE OF TECHNOLOGY",
            192,
            "db3b0d8f0b061e603282b308a50841229ad798fab9540c1b",
        ),
        (b"Q", 168, "518a54a215a8452a518a54a215a8452a518a54a215"),
        (b"ba", 168, "fb25d531ae8974499f52fd92ea9857c4ba24cf297e"),
        (b"kerberos", 64, "6b65726265726f73"),
        (b"kerberos", 128, "6b65726265726f737b9b5b2b93132b93"),
        (
            b"kerberos",
            168,
            "8372c236344e5f1550cd0747e15d62ca7a5a3bcea4",
        ),
        (
            b"kerberos",
            256,
            "6b65726265726f737b9b5b2b93132b935c9bdcdad95c9899c4cae4dee6d6cae4",
        ),
    ];
    for (input, bits, want) in cases {
        assert_eq!(
            hex::encode(&nfold(input, bits / 8)),
            *want,
            "{bits}-fold {input:?}"
        );
    }
}

/// RFC 3962 appendix B, the CBC-CTS vectors (key "chicken teriyaki", IV 0). Encrypting the
/// plaintext as the confounder-less body is what [`EncryptionKey`] does after its confounder;
/// here the raw CTS layer is reached through a zero-length-checksum-free path: the
/// ciphertext of `conf | plain` with `conf` = the first 16 plaintext bytes.
#[test]
fn rfc3962_b_cts() {
    let key = b"chicken teriyaki";
    let plain = h(
        "4920776f756c64206c696b65207468652047656e6572616c20476175277320436869636b656e2c20706c656173652c20616e6420776f6e746f6e20736f75702e",
    );
    let cases = [
        (17, "c6353568f2bf8cb4d8a580362da7ff7f97"),
        (
            31,
            "fc00783e0efdb2c1d445d4c8eff7ed2297687268d6ecccc0c07b25e25ecfe5",
        ),
        (
            32,
            "39312523a78662d5be7fcbcc98ebf5a897687268d6ecccc0c07b25e25ecfe584",
        ),
        (
            47,
            "97687268d6ecccc0c07b25e25ecfe584b3fffd940c16a18c1b5549d2f838029e39312523a78662d5be7fcbcc98ebf5",
        ),
        (
            48,
            "97687268d6ecccc0c07b25e25ecfe5849dad8bbb96c4cdc03bc103e1a194bbd839312523a78662d5be7fcbcc98ebf5a8",
        ),
        (
            64,
            "97687268d6ecccc0c07b25e25ecfe58439312523a78662d5be7fcbcc98ebf5a84807efe836ee89a526730dbc2f7bc8409dad8bbb96c4cdc03bc103e1a194bbd8",
        ),
    ];
    // Ke = the raw key; Ki irrelevant for the ciphertext part of the output.
    let ek = EncryptionKey::from_raw(Enctype::Aes128CtsHmacSha196, key, &[0u8; 16]).unwrap();
    for (n, want) in cases {
        let c: [u8; 16] = plain[..16].try_into().unwrap();
        let out = ek.encrypt_with_confounder(&c, &plain[16..n]);
        assert_eq!(hex::encode(&out[..n]), want, "CTS {n} bytes");
        // And back (the checksum covers confounder | plaintext, which we reproduce).
        assert_eq!(ek.decrypt(&out).unwrap(), &plain[16..n]);
    }
}

/// RFC 3962 appendix B, string-to-key: the DK step `key = DK(tkey, "kerberos")`, where tkey is
/// the PBKDF2 output listed in the appendix (iteration counts 1 and 1200, password "password",
/// salt "ATHENA.MIT.EDUraeburn").
#[test]
fn rfc3962_b_dk_kerberos() {
    let tkey1 = h("cdedb5281bb2f801565a1122b25635150ad1f7a04bb9f3a333ecc0e2e1f70837");
    let k17 = Key::new(Enctype::Aes128CtsHmacSha196, &tkey1[..16]).unwrap();
    assert_eq!(
        hex::encode(&k17.derive_bytes(b"kerberos", 16)),
        "42263c6e89f4fc28b8df68ee09799f15"
    );
    let k18 = Key::new(Enctype::Aes256CtsHmacSha196, &tkey1).unwrap();
    assert_eq!(
        hex::encode(&k18.derive_bytes(b"kerberos", 32)),
        "fe697b52bc0d3ce14432ba036a92e65bbb52280990a2fa27883998d72af30161"
    );
    let tkey1200 = h("5c08eb61fdf71e4e4ec3cf6ba1f5512ba7e52ddbc5e5142f708a31e2e62b1e13");
    let k18 = Key::new(Enctype::Aes256CtsHmacSha196, &tkey1200).unwrap();
    assert_eq!(
        hex::encode(&k18.derive_bytes(b"kerberos", 32)),
        "55a6ac740ad17b4846941051e1e8b0a7548d93b0ab30a8bc3ff16280382b8c2a"
    );
}

const K19: &str = "3705D96080C17728A0E800EAB6E0D23C";
const K20: &str = "6D404D37FAF79F9DF0D33568D320669800EB4836472EA8A026D16B7182460C52";

/// RFC 8009 appendix A, key derivation with usage 2.
#[test]
fn rfc8009_a_key_derivation() {
    let k = Key::new(Enctype::Aes128CtsHmacSha256128, &h(K19)).unwrap();
    assert_eq!(
        k.derive_usage_key(2, KeyRole::Checksum),
        h("B31A018A48F54776F403E9A396325DC3")
    );
    assert_eq!(
        k.derive_usage_key(2, KeyRole::Encryption),
        h("9B197DD1E8C5609D6E67C3E37C62C72E")
    );
    assert_eq!(
        k.derive_usage_key(2, KeyRole::Integrity),
        h("9FDA0E56AB2D85E1569A688696C26A6C")
    );
    let k = Key::new(Enctype::Aes256CtsHmacSha384192, &h(K20)).unwrap();
    assert_eq!(
        k.derive_usage_key(2, KeyRole::Checksum),
        h("EF5718BE86CC84963D8BBB5031E9F5C4BA41F28FAF69E73D")
    );
    assert_eq!(
        k.derive_usage_key(2, KeyRole::Encryption),
        h("56AB22BEE63D82D7BC5227F6773F8EA7A5EB1C825160C38312980C442E5C7E49")
    );
    assert_eq!(
        k.derive_usage_key(2, KeyRole::Integrity),
        h("69B16514E3CD8E56B82010D5C73012B622C4D00FFC23ED1F")
    );
}

/// RFC 8009 appendix A, pseudo-random function of "test".
#[test]
fn rfc8009_a_prf() {
    let k = Key::new(Enctype::Aes128CtsHmacSha256128, &h(K19)).unwrap();
    assert_eq!(
        k.prf(b"test"),
        h("9D188616F63852FE86915BB840B4A886FF3E6BB0F819B49B893393D393854295")
    );
    let k = Key::new(Enctype::Aes256CtsHmacSha384192, &h(K20)).unwrap();
    assert_eq!(
        k.prf(b"test"),
        h(
            "9801F69A368C2BF675E59521E177D9A07F67EFE1CFDE8D3C8D6F6A0256E3B17DB3C1B62AD1B8553360D17367EB1514D2"
        )
    );
}

/// RFC 8009 appendix A, encryption with usage 2 (empty, shorter than, equal to and longer than
/// a block), with the listed confounders; and decryption back.
#[test]
fn rfc8009_a_encryption() {
    let cases: &[(Enctype, &str, &str, &str, &str)] = &[
        (
            Enctype::Aes128CtsHmacSha256128,
            K19,
            "",
            "7E5895EAF2672435BAD817F545A37148",
            "EF85FB890BB8472F4DAB20394DCA781DAD877EDA39D50C870C0D5A0A8E48C718",
        ),
        (
            Enctype::Aes128CtsHmacSha256128,
            K19,
            "000102030405",
            "7BCA285E2FD4130FB55B1A5C83BC5B24",
            "84D7F30754ED987BAB0BF3506BEB09CFB55402CEF7E6877CE99E247E52D16ED4421DFDF8976C",
        ),
        (
            Enctype::Aes128CtsHmacSha256128,
            K19,
            "000102030405060708090A0B0C0D0E0F",
            "56AB21713FF62C0A1457200F6FA9948F",
            "3517D640F50DDC8AD3628722B3569D2AE07493FA8263254080EA65C1008E8FC295FB4852E7D83E1E7C48C37EEBE6B0D3",
        ),
        (
            Enctype::Aes128CtsHmacSha256128,
            K19,
            "000102030405060708090A0B0C0D0E0F1011121314",
            "A7A4E29A4728CE10664FB64E49AD3FAC",
            "720F73B18D9859CD6CCB4346115CD336C70F58EDC0C4437C5573544C31C813BCE1E6D072C186B39A413C2F92CA9B8334A287FFCBFC",
        ),
        (
            Enctype::Aes256CtsHmacSha384192,
            K20,
            "",
            "F764E9FA15C276478B2C7D0C4E5F58E4",
            "41F53FA5BFE7026D91FAF9BE959195A058707273A96A40F0A01960621AC612748B9BBFBE7EB4CE3C",
        ),
        (
            Enctype::Aes256CtsHmacSha384192,
            K20,
            "000102030405",
            "B80D3251C1F6471494256FFE712D0B9A",
            "4ED7B37C2BCAC8F74F23C1CF07E62BC7B75FB3F637B9F559C7F664F69EAB7B6092237526EA0D1F61CB20D69D10F2",
        ),
        (
            Enctype::Aes256CtsHmacSha384192,
            K20,
            "000102030405060708090A0B0C0D0E0F",
            "53BF8A0D105265D4E276428624CE5E63",
            "BC47FFEC7998EB91E8115CF8D19DAC4BBBE2E163E87DD37F49BECA92027764F68CF51F14D798C2273F35DF574D1F932E40C4FF255B36A266",
        ),
        (
            Enctype::Aes256CtsHmacSha384192,
            K20,
            "000102030405060708090A0B0C0D0E0F1011121314",
            "763E65367E864F02F55153C7E3B58AF1",
            "40013E2DF58E8751957D2878BCD2D6FE101CCFD556CB1EAE79DB3C3EE86429F2B2A602AC86FEF6ECB647D6295FAE077A1FEB517508D2C16B4192E01F62",
        ),
    ];
    for (et, key, plain, c, want) in cases {
        let ek = Key::new(*et, &h(key)).unwrap().encryption(2);
        let ct = ek.encrypt_with_confounder(&conf(c), &h(plain));
        assert_eq!(ct, h(want), "{et} plain {plain}");
        assert_eq!(ek.decrypt(&ct).unwrap(), h(plain));
        let mut bad = ct.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(ek.decrypt(&bad).is_err());
    }
}

/// RFC 8009 appendix A, checksums (given with Kc for usage 2).
#[test]
fn rfc8009_a_checksum() {
    let plain = h("000102030405060708090A0B0C0D0E0F1011121314");
    let ck = ChecksumKey::new_raw(
        Enctype::Aes128CtsHmacSha256128,
        &h("B31A018A48F54776F403E9A396325DC3"),
    )
    .unwrap();
    assert_eq!(ck.get_mic(&[&plain]), h("D78367186643D67B411CBA9139FC1DEE"));
    let ck = ChecksumKey::new_raw(
        Enctype::Aes256CtsHmacSha384192,
        &h("EF5718BE86CC84963D8BBB5031E9F5C4BA41F28FAF69E73D"),
    )
    .unwrap();
    let mic = ck.get_mic(&[&plain[..10], &plain[10..]]);
    assert_eq!(mic, h("45EE791567EEFCA37F4AC1E0222DE80D43C3BFA06699672A"));
    assert!(ck.verify_mic(&[&plain], &mic).is_ok());
    assert!(ck.verify_mic(&[&plain[1..]], &mic).is_err());
}

/// RFC 6803 section 10, key derivation with usage 2.
#[test]
fn rfc6803_10_key_derivation() {
    let k = Key::new(
        Enctype::Camellia128CtsCmac,
        &h("57D0297298FFD9D35DE5A47FB4BDE24B"),
    )
    .unwrap();
    assert_eq!(
        k.derive_usage_key(2, KeyRole::Checksum),
        h("D155775A209D05F02B38D42A389E5A56")
    );
    assert_eq!(
        k.derive_usage_key(2, KeyRole::Encryption),
        h("64DF83F85A532F17577D8C37035796AB")
    );
    assert_eq!(
        k.derive_usage_key(2, KeyRole::Integrity),
        h("3E4FBDF30FB8259C425CB6C96F1F4635")
    );
    let k = Key::new(
        Enctype::Camellia256CtsCmac,
        &h("B9D6828B2056B7BE656D88A123B1FAC68214AC2B727ECF5F69AFE0C4DF2A6D2C"),
    )
    .unwrap();
    assert_eq!(
        k.derive_usage_key(2, KeyRole::Checksum),
        h("E467F9A9552BC7D3155A6220AF9C19220EEED4FF78B0D1E6A1544991461A9E50")
    );
    assert_eq!(
        k.derive_usage_key(2, KeyRole::Encryption),
        h("412AEFC362A7285FC3966C6A5181E7605AE675235B6D549FBFC9AB6630A4C604")
    );
    assert_eq!(
        k.derive_usage_key(2, KeyRole::Integrity),
        h("FA624FA0E523993FA388AEFDC67E67EBCD8C08E8A0246B1D73B0D1DD9FC582B0")
    );
}

/// RFC 6803 section 10, encryption (base key, usage, confounder given).
#[test]
fn rfc6803_10_encryption() {
    /// (enctype, base key, usage, plaintext, confounder, ciphertext)
    type Case<'a> = (Enctype, &'a str, u32, &'a [u8], &'a str, &'a str);
    let cases: &[Case] = &[
        (
            Enctype::Camellia128CtsCmac,
            "1DC46A8D763F4F93742BCBA3387576C3",
            0,
            b"",
            "B69822A19A6B09C0EBC8557D1F1B6C0A",
            "C466F1871069921EDB7C6FDE244A52DB0BA10EDC197BDB8006658CA3CCCE6EB8",
        ),
        (
            Enctype::Camellia128CtsCmac,
            "5027BC231D0F3A9D23333F1CA6FDBE7C",
            1,
            b"1",
            "6F2FC3C2A166FD8898967A83DE9596D9",
            "842D21FD950311C0DD464A3F4BE8D6DA88A56D559C9B47D3F9A85067AF661559B8",
        ),
        (
            Enctype::Camellia128CtsCmac,
            "A1BB61E805F9BA6DDE8FDBDDC05CDEA0",
            2,
            b"9 bytesss",
            "A5B4A71E077AEEF93C8763C18FDB1F10",
            "619FF072E36286FF0A28DEB3A352EC0D0EDF5C5160D663C901758CCF9D1ED33D71DB8F23AABF8348A0",
        ),
        (
            Enctype::Camellia128CtsCmac,
            "2CA27A5FAF5532244506434E1CEF6676",
            3,
            b"13 bytes byte",
            "19FEE40D810C524B5B22F01874C693DA",
            "B8ECA3167AE6315512E59F98A7C500205E5F63FF3BB389AF1C41A21D640D8615C9ED3FBEB05AB6ACB67689B5EA",
        ),
        (
            Enctype::Camellia128CtsCmac,
            "7824F8C16F83FF354C6BF7515B973F43",
            4,
            b"30 bytes bytes bytes bytes byt",
            "CA7A7AB4BE192DABD603506DB19C39E2",
            "A26A3905A4FFD5816B7B1E27380D08090C8EC1F304496E1ABDCD2BDCD1DFFC660989E117A713DDBB57A4146C1587CBA4356665591D2240282F5842B105A5",
        ),
        (
            Enctype::Camellia256CtsCmac,
            "B61C86CC4E5D2757545AD423399FB7031ECAB913CBB900BD7A3C6DD8BF92015B",
            0,
            b"",
            "3CBBD2B45917941067F96599BB98926C",
            "03886D03310B47A6D8F06D7B94D1DD837ECCE315EF652AFF620859D94A259266",
        ),
        (
            Enctype::Camellia256CtsCmac,
            "1B97FE0A190E2021EB30753E1B6E1E77B0754B1D684610355864104963463833",
            1,
            b"1",
            "DEF487FCEBE6DE6346D4DA4521BBA2D2",
            "2C9C1570133C99BF6A34BC1B0212002FD194338749DB4135497A347CFCD9D18A12",
        ),
        (
            Enctype::Camellia256CtsCmac,
            "32164C5B434D1D1538E4CFD9BE8040FE8C4AC7ACC4B93D3314D2133668147A05",
            2,
            b"9 bytesss",
            "AD4FF904D34E555384B14100FC465F88",
            "9C6DE75F812DE7ED0D28B2963557A115640998275B0AF5152709913FF52A2A9C8E63B872F92E64C839",
        ),
        (
            Enctype::Camellia256CtsCmac,
            "B038B132CD8E06612267FAB7170066D88AECCBA0B744BFC60DC89BCA182D0715",
            3,
            b"13 bytes byte",
            "CF9BCA6DF1144E0C0AF9B8F34C90D514",
            "EEEC85A9813CDC536772AB9B42DEFC5706F726E975DDE05A87EB5406EA324CA185C9986B42AABE794B84821BEE",
        ),
        (
            Enctype::Camellia256CtsCmac,
            "CCFCD349BF4C6677E86E4B02B8EAB924A546AC731CF9BF6989B996E7D6BFBBA7",
            4,
            b"30 bytes bytes bytes bytes byt",
            "644DEF38DA35007275878D216855E228",
            "0E44680985855F2D1F1812529CA83BFD8E349DE6FD9ADA0BAAA048D68E265FEBF34AD1255A344999AD37146887A6C6845731AC7F46376A0504CD06571474",
        ),
    ];
    for (et, key, usage, plain, c, want) in cases {
        let ek = Key::new(*et, &h(key)).unwrap().encryption(*usage);
        let ct = ek.encrypt_with_confounder(&conf(c), plain);
        assert_eq!(
            hex::encode(&ct),
            hex::encode(&h(want)),
            "{et} usage {usage}"
        );
        assert_eq!(ek.decrypt(&ct).unwrap(), *plain);
    }
}

/// RFC 6803 section 10, checksums (base key and usage given).
#[test]
fn rfc6803_10_checksum() {
    let cases: &[(Enctype, &str, u32, &[u8], &str)] = &[
        (
            Enctype::Camellia128CtsCmac,
            "1DC46A8D763F4F93742BCBA3387576C3",
            7,
            b"abcdefghijk",
            "1178E6C5C47A8C1AE0C4B9C7D4EB7B6B",
        ),
        (
            Enctype::Camellia128CtsCmac,
            "5027BC231D0F3A9D23333F1CA6FDBE7C",
            8,
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            "D1B34F7004A731F23A0C00BF6C3F753A",
        ),
        (
            Enctype::Camellia256CtsCmac,
            "B61C86CC4E5D2757545AD423399FB7031ECAB913CBB900BD7A3C6DD8BF92015B",
            9,
            b"123456789",
            "87A12CFD2B96214810F01C826E7744B1",
        ),
        (
            Enctype::Camellia256CtsCmac,
            "32164C5B434D1D1538E4CFD9BE8040FE8C4AC7ACC4B93D3314D2133668147A05",
            10,
            b"!@#$%^&*()!@#$%^&*()!@#$%^&*()",
            "3FA0B42355E52B189187294AA252AB64",
        ),
    ];
    for (et, key, usage, plain, want) in cases {
        let k = Key::new(*et, &h(key)).unwrap();
        assert_eq!(k.get_mic(*usage, plain), h(want), "{et} usage {usage}");
        assert!(k.verify_mic(*usage, plain, &h(want)).is_ok());
        assert!(k.verify_mic(*usage + 1, plain, &h(want)).is_err());
    }
}

/// Round trips at every length around the block boundaries, for every enctype.
#[test]
fn round_trips_all_enctypes() {
    for et in Enctype::ALL {
        let key = Key::new(et, &(0..et.key_len() as u8).collect::<Vec<_>>()).unwrap();
        let ek = key.encryption(1036);
        for n in 0..70usize {
            let p: Vec<u8> = (0..n as u8).collect();
            let ct = ek.encrypt(&p).unwrap();
            assert_eq!(ct.len(), n + et.encrypt_overhead());
            assert_eq!(ek.decrypt(&ct).unwrap(), p, "{et} {n}");
            for i in [0, ct.len() / 2, ct.len() - 1] {
                let mut bad = ct.clone();
                bad[i] ^= 0x80;
                assert!(ek.decrypt(&bad).is_err(), "{et} {n} flip {i}");
            }
        }
        assert!(ek.decrypt(&[0u8; 10]).is_err());
    }
}
