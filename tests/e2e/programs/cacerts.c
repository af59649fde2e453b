/* Loads the CA bundle from OpenSSL's default verify paths and looks for a well-known root. */
#include <stdio.h>
#include <string.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

int main(void) {
    SSL_CTX *context = SSL_CTX_new(TLS_client_method());
    if (context == NULL) {
        printf("cacerts: FAIL cannot create a TLS context\n");
        return 1;
    }
    if (SSL_CTX_set_default_verify_paths(context) != 1) {
        printf("cacerts: FAIL cannot set the default verify paths\n");
        return 1;
    }
    STACK_OF(X509_OBJECT) *objects = X509_STORE_get0_objects(SSL_CTX_get_cert_store(context));
    int certificates = 0, found = 0;
    for (int i = 0; i < sk_X509_OBJECT_num(objects); i++) {
        X509 *certificate = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objects, i));
        if (certificate == NULL)
            continue;
        certificates++;
        char name[256];
        if (X509_NAME_get_text_by_NID(X509_get_subject_name(certificate), NID_commonName, name, sizeof name) > 0
            && strcmp(name, "ISRG Root X1") == 0)
            found = 1;
    }
    SSL_CTX_free(context);
    if (certificates == 0 || !found) {
        printf("cacerts: FAIL %d certificates from %s, ISRG Root X1 %s\n", certificates,
               X509_get_default_cert_file(), found ? "found" : "missing");
        return 1;
    }
    printf("cacerts: ok %d certificates\n", certificates);
    return 0;
}
