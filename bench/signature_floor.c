// SPDX-License-Identifier: AGPL-3.0-or-later
// The physical floor of verifying a minisign signature: the unavoidable work
// only. It hashes the file with BLAKE2b-512 (read in 512 KiB blocks, as the
// host does) and makes the two Ed25519 verifications of a pre-hashed minisign
// signature (the file's hash, then the signature + trusted comment), with no
// trust walk, no key directory, no revocation list and no error messages.
//   signature_floor PUBLIC_KEY_FILE FILE      (FILE.minisig beside FILE)
//   signature_floor                           (no work: the process start alone)
// Exit 0 when both verify, 1 otherwise.
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

// Line `index` (0-based) of the small text file `path`, newline removed.
static int read_line(const char* path, int index, char* out, size_t size) {
  FILE* f = fopen(path, "r");
  if (f == NULL) return 0;
  int ok = 0;
  for (int i = 0; i <= index && fgets(out, (int)size, f) != NULL; ++i) ok = (i == index);
  fclose(f);
  out[strcspn(out, "\r\n")] = '\0';
  return ok;
}

static int decode(const char* text, unsigned char* out, int expected) {
  unsigned char buffer[256];
  int n = EVP_DecodeBlock(buffer, (const unsigned char*)text, (int)strlen(text));
  if (n < expected) return 0;
  memcpy(out, buffer, (size_t)expected);
  return 1;
}

static int verify(const unsigned char* key, const unsigned char* sig, const unsigned char* msg, size_t len) {
  EVP_PKEY* pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, key, 32);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  int ok = pkey != NULL && ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
           EVP_DigestVerify(ctx, sig, 64, msg, len) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(pkey);
  return ok;
}

int main(int argc, char** argv) {
  if (argc == 1) return 0;
  if (argc != 3) return 2;
  char line[1024], sig_path[4096];
  unsigned char pub[42], sig[74], global[64];
  snprintf(sig_path, sizeof sig_path, "%s.minisig", argv[2]);
  if (!read_line(argv[1], 1, line, sizeof line) || !decode(line, pub, 42)) return 1;
  if (!read_line(sig_path, 1, line, sizeof line) || !decode(line, sig, 74)) return 1;

  static unsigned char block[512 * 1024];
  unsigned char digest[64];
  unsigned int digest_len = 0;
  int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  if (fd < 0 || md == NULL || EVP_DigestInit_ex(md, EVP_blake2b512(), NULL) != 1) return 1;
  ssize_t n;
  while ((n = read(fd, block, sizeof block)) > 0) EVP_DigestUpdate(md, block, (size_t)n);
  EVP_DigestFinal_ex(md, digest, &digest_len);
  EVP_MD_CTX_free(md);
  close(fd);
  if (n < 0 || !verify(pub + 10, sig + 10, digest, digest_len)) return 1;

  // The global signature covers the 64 signature bytes followed by the trusted comment.
  char comment[1024];
  if (!read_line(sig_path, 2, comment, sizeof comment) || strncmp(comment, "trusted comment: ", 17) != 0) return 1;
  if (!read_line(sig_path, 3, line, sizeof line) || !decode(line, global, 64)) return 1;
  unsigned char message[64 + sizeof comment];
  size_t comment_len = strlen(comment + 17);
  memcpy(message, sig + 10, 64);
  memcpy(message + 64, comment + 17, comment_len);
  return verify(pub + 10, global, message, 64 + comment_len) ? 0 : 1;
}
