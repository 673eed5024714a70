/* The system OpenSSL (Debian libssl-dev): HMAC, digests and randomness for swarmctl. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
