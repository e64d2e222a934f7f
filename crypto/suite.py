"""The one HPKE cipher suite the system uses, and the sizes that follow from it."""

from cryptography.hazmat.primitives import hpke

#: RFC 9180 suite: DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-256-GCM.
#: P-256 because WebCrypto offers it in every browser that matters, Tor Browser included.
SUITE = hpke.Suite(hpke.KEM.P256, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
SUITE_NAME = "DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-256-GCM"

ENC_LEN = 65  # uncompressed P-256 point, RFC 9180 SerializePublicKey
TAG_LEN = 16  # AES-GCM tag
SCALAR_LEN = 32  # P-256 private scalar
