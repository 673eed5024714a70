#include "CCryptoShim.h"
#include <string.h>
#include <malloc.h>
#include <openssl/err.h>
#include <openssl/ec.h>
#include <openssl/x509v3.h>
#include <openssl/core_names.h>

EVP_PKEY *ccs_generate_p256(void) { return EVP_EC_gen("P-256"); }

int ccs_key_is_p256(const EVP_PKEY *key) {
    char group[64];
    size_t length = 0;
    if (key == NULL || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) return 0;
    if (EVP_PKEY_get_group_name(key, group, sizeof group, &length) != 1) return 0;
    return strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0;
}

void ccs_free(void *pointer) { OPENSSL_free(pointer); }
int ccs_err_lib(unsigned long code) { return ERR_GET_LIB(code); }
int ccs_err_reason(unsigned long code) { return ERR_GET_REASON(code); }
size_t ccs_bio_pending(BIO *bio) { return BIO_ctrl_pending(bio); }

int ccs_ctx_set_tls13_only(SSL_CTX *context) {
    return SSL_CTX_set_min_proto_version(context, TLS1_3_VERSION) == 1
        && SSL_CTX_set_max_proto_version(context, TLS1_3_VERSION) == 1;
}
int ccs_ctx_set_tls12_or_13(SSL_CTX *context) {
    return SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION) == 1
        && SSL_CTX_set_max_proto_version(context, TLS1_3_VERSION) == 1;
}
int ccs_set_server_name_indication(SSL *ssl, const char *name) { return (int)SSL_set_tlsext_host_name(ssl, name); }
int ccs_ctx_set_modes(SSL_CTX *context) {
    long mode = SSL_MODE_RELEASE_BUFFERS | SSL_MODE_NO_AUTO_CHAIN;
    return (SSL_CTX_set_mode(context, mode) & mode) == mode;
}
int ccs_ctx_disable_session_cache(SSL_CTX *context) {
    SSL_CTX_set_session_cache_mode(context, SSL_SESS_CACHE_OFF);
    return 1;
}
int ccs_ctx_set_no_tickets(SSL_CTX *context) {
    uint64_t options = SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION;
    return (SSL_CTX_set_options(context, options) & options) == options;
}
int ccs_ctx_add1_chain_cert(SSL_CTX *context, X509 *certificate) {
    return (int)SSL_CTX_add1_chain_cert(context, certificate);
}

int ccs_x509_stack_count(const STACK_OF(X509) *stack) { return stack == NULL ? 0 : sk_X509_num(stack); }
X509 *ccs_x509_stack_value(const STACK_OF(X509) *stack, int index) { return sk_X509_value(stack, index); }
STACK_OF(X509) *ccs_x509_stack_new(void) { return sk_X509_new_null(); }
int ccs_x509_stack_push(STACK_OF(X509) *stack, X509 *certificate) { return sk_X509_push(stack, certificate); }
void ccs_x509_stack_free(STACK_OF(X509) *stack) { sk_X509_free(stack); }

int ccs_x509_is_ca(X509 *certificate) {
    return (X509_get_extension_flags(certificate) & EXFLAG_CA) != 0;
}

size_t ccs_heap_bytes_in_use(void) { return mallinfo2().uordblks; }

#include <openssl/kdf.h>
#include <openssl/params.h>

int ccs_hkdf_sha256(const unsigned char *secret, size_t secret_length, const unsigned char *salt, size_t salt_length,
                    const unsigned char *info, size_t info_length, unsigned char *output, size_t output_length) {
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    if (kdf == NULL) return 0;
    EVP_KDF_CTX *context = EVP_KDF_CTX_new(kdf);
    EVP_KDF_free(kdf);
    if (context == NULL) return 0;
    OSSL_PARAM params[5];
    size_t count = 0;
    params[count++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
    params[count++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, secret_length);
    if (salt_length > 0) params[count++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_length);
    if (info_length > 0) params[count++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_length);
    params[count] = OSSL_PARAM_construct_end();
    int result = EVP_KDF_derive(context, output, output_length, params);
    EVP_KDF_CTX_free(context);
    return result;
}
