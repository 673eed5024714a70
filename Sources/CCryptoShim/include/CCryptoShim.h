/* OpenSSL 3 calls that Swift cannot import (function-like macros, variadic functions, OPENSSL_free),
   wrapped as plain C functions for the Crypto module. Each returns what the wrapped call returns. */
#ifndef CCRYPTOSHIM_H
#define CCRYPTOSHIM_H
#include <stddef.h>
#include <openssl/evp.h>
#include <openssl/bio.h>
#include <openssl/x509.h>
#include <openssl/ssl.h>

/* EVP_EC_gen("P-256") (a macro over the variadic EVP_PKEY_Q_keygen). */
EVP_PKEY *ccs_generate_p256(void);
/* 1 if `key` is an EC key on prime256v1, else 0. */
int ccs_key_is_p256(const EVP_PKEY *key);
/* OPENSSL_free (a macro passing __FILE__/__LINE__). */
void ccs_free(void *pointer);
/* ERR_GET_LIB / ERR_GET_REASON. */
int ccs_err_lib(unsigned long code);
int ccs_err_reason(unsigned long code);
/* Bytes waiting in a BIO (BIO_pending is a macro). */
size_t ccs_bio_pending(BIO *bio);

/* SSL_CTX macros. */
int ccs_ctx_set_tls13_only(SSL_CTX *context);
/* SSL_MODE_RELEASE_BUFFERS (idle connections hold no record buffers) | SSL_MODE_NO_AUTO_CHAIN (send exactly the
   configured chain, never roots pulled from the trust store). */
int ccs_ctx_set_modes(SSL_CTX *context);
int ccs_ctx_disable_session_cache(SSL_CTX *context);
/* SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION (SSL_OP_BIT is a macro). */
int ccs_ctx_set_no_tickets(SSL_CTX *context);
int ccs_ctx_add1_chain_cert(SSL_CTX *context, X509 *certificate);

/* TLS 1.2 as the minimum, 1.3 the maximum (public HTTPS clients only). */
int ccs_ctx_set_tls12_or_13(SSL_CTX *context);
/* SSL_set_tlsext_host_name (SNI). */
int ccs_set_server_name_indication(SSL *ssl, const char *name);

/* STACK_OF(X509) accessors (the typed sk_X509_* helpers). */
int ccs_x509_stack_count(const STACK_OF(X509) *stack);
X509 *ccs_x509_stack_value(const STACK_OF(X509) *stack, int index);
STACK_OF(X509) *ccs_x509_stack_new(void);
int ccs_x509_stack_push(STACK_OF(X509) *stack, X509 *certificate);
void ccs_x509_stack_free(STACK_OF(X509) *stack);

/* 1 if basicConstraints says CA:TRUE. */
int ccs_x509_is_ca(X509 *certificate);
/* Bytes the C heap has handed out and not freed (glibc mallinfo2), for leak tests. */
size_t ccs_heap_bytes_in_use(void);
/* HKDF-SHA-256 (RFC 5869) through EVP_KDF "HKDF": extract-and-expand `secret` with `salt` and `info` into `output`.
   The OSSL_PARAM array holds pointers into the arguments, which Swift cannot build safely. 1 on success. */
int ccs_hkdf_sha256(const unsigned char *secret, size_t secret_length, const unsigned char *salt, size_t salt_length,
                    const unsigned char *info, size_t info_length, unsigned char *output, size_t output_length);
#endif
