-- jws: JWS signature verification (RS256, ES256) with libcrypto through the LuaJIT FFI, and the
-- public keys of a JWK Set turned into libcrypto keys.
--
-- No Lua OpenSSL binding is needed: a JWK is encoded here as a DER SubjectPublicKeyInfo
-- (RFC 5480 for EC P-256: a fixed prefix and the uncompressed point 0x04 || x || y; RFC 3279 /
-- RFC 8017 for RSA: SEQUENCE { INTEGER n, INTEGER e } in a BIT STRING) and read with
-- `d2i_PUBKEY`, which also checks that an EC point is on the curve. A signature is checked with
-- `EVP_DigestVerifyInit` / `EVP_DigestVerify` and SHA-256; an ES256 JOSE signature (r || s, 32
-- bytes each, RFC 7518 3.4) is re-encoded as the DER ECDSA-Sig-Value libcrypto expects.
--
-- In Kong the symbols come from the OpenSSL the nginx binary links (`ffi.C`); elsewhere (the tests)
-- from libcrypto.so.3 (or 1.1). Declarations are made one by one under pcall: Kong's own
-- lua-resty-openssl declares the same ones, and an identical redeclaration is harmless.
local ffi = require "ffi"

local M = {}

-- Algorithms this module verifies, with the key type each needs.
M.KEY_TYPE_OF_ALG = { RS256 = "RSA", ES256 = "EC" }

local DECLARATIONS = {
  "typedef struct evp_pkey_st EVP_PKEY;",
  "typedef struct evp_md_ctx_st EVP_MD_CTX;",
  "typedef struct evp_md_st EVP_MD;",
  "typedef struct engine_st ENGINE;",
  "typedef struct evp_pkey_ctx_st EVP_PKEY_CTX;",
  "EVP_PKEY *d2i_PUBKEY(EVP_PKEY **a, const unsigned char **pp, long length);",
  "void EVP_PKEY_free(EVP_PKEY *pkey);",
  "const EVP_MD *EVP_sha256(void);",
  "EVP_MD_CTX *EVP_MD_CTX_new(void);",
  "void EVP_MD_CTX_free(EVP_MD_CTX *ctx);",
  "int EVP_DigestVerifyInit(EVP_MD_CTX *ctx, EVP_PKEY_CTX **pctx, const EVP_MD *type, ENGINE *e, EVP_PKEY *pkey);",
  "int EVP_DigestVerify(EVP_MD_CTX *ctx, const unsigned char *sigret, size_t siglen, const unsigned char *tbs, size_t tbslen);",
  "void ERR_clear_error(void);",
}
for _, declaration in ipairs(DECLARATIONS) do
  pcall(ffi.cdef, declaration)
end

local crypto -- the namespace holding libcrypto's symbols, found on first use

local function has_symbols(namespace)
  return pcall(function() return namespace.EVP_DigestVerify and namespace.d2i_PUBKEY end)
end

local function libcrypto()
  if crypto then return crypto end
  if has_symbols(ffi.C) then
    crypto = ffi.C
    return crypto
  end
  for _, name in ipairs({ "libcrypto.so.3", "libcrypto.so.1.1", "crypto" }) do
    local ok, lib = pcall(ffi.load, name)
    if ok and has_symbols(lib) then
      crypto = lib
      return crypto
    end
  end
  error("tenant-gate: libcrypto (OpenSSL 1.1.1 or 3.x) not found: neither linked into this process nor loadable as libcrypto.so.3")
end

---------------------------------------------------------------------------------------------
-- DER
---------------------------------------------------------------------------------------------

local function der_length(n)
  if n < 0x80 then return string.char(n) end
  if n < 0x100 then return string.char(0x81, n) end
  if n < 0x10000 then return string.char(0x82, math.floor(n / 0x100), n % 0x100) end
  error("DER length " .. n .. " too large")
end

local function der(tag, content)
  return string.char(tag) .. der_length(#content) .. content
end

-- An INTEGER from unsigned big-endian bytes: minimal (no leading zero byte unless the high bit
-- is set, which would make it negative).
local function der_unsigned(bytes)
  local first = 1
  while first < #bytes and bytes:byte(first) == 0 do first = first + 1 end
  bytes = bytes:sub(first)
  if bytes:byte(1) >= 0x80 then bytes = "\0" .. bytes end
  return der(0x02, bytes)
end

-- AlgorithmIdentifier { id-ecPublicKey, prime256v1 } and the BIT STRING header of a 65-byte point.
local EC_P256_SPKI_PREFIX = "\48\89" .. "\48\19\6\7\42\134\72\206\61\2\1\6\8\42\134\72\206\61\3\1\7" .. "\3\66\0"
-- AlgorithmIdentifier { rsaEncryption, NULL }.
local RSA_ALGORITHM = "\48\13\6\9\42\134\72\134\247\13\1\1\1\5\0"

local function ec_p256_spki(x, y)
  return EC_P256_SPKI_PREFIX .. "\4" .. x .. y
end

local function rsa_spki(n, e)
  local key = der(0x30, der_unsigned(n) .. der_unsigned(e))
  return der(0x30, RSA_ALGORITHM .. der(0x03, "\0" .. key))
end

-- The DER ECDSA-Sig-Value of a JOSE ES256 signature (r || s).
local function ecdsa_der_signature(raw)
  return der(0x30, der_unsigned(raw:sub(1, 32)) .. der_unsigned(raw:sub(33, 64)))
end

M.der = { ec_p256_spki = ec_p256_spki, rsa_spki = rsa_spki, ecdsa_signature = ecdsa_der_signature }

---------------------------------------------------------------------------------------------
-- Keys
---------------------------------------------------------------------------------------------

local function public_key(spki)
  local lib = libcrypto()
  local p = ffi.new("const unsigned char *[1]")
  p[0] = ffi.cast("const unsigned char *", spki)
  local pkey = lib.d2i_PUBKEY(nil, p, #spki)
  if pkey == nil then
    lib.ERR_clear_error()
    return nil
  end
  return ffi.gc(pkey, lib.EVP_PKEY_free)
end

local function strip_leading_zeros(bytes)
  local first = 1
  while first < #bytes and bytes:byte(first) == 0 do first = first + 1 end
  return bytes:sub(first)
end

local MIN_RSA_MODULUS_BYTES = 256 -- 2048 bits
local MAX_RSA_MODULUS_BYTES = 1024 -- 8192 bits
local MAX_RSA_EXPONENT_BYTES = 8

--- A verification key from one JWK (a decoded JSON object), or nil and why it is not one.
-- Only signature keys: `use` absent or "sig", `key_ops` absent or containing "verify"; a `kid`;
-- EC keys on P-256 (alg absent or ES256), RSA keys of 2048 to 8192 bits (alg absent or RS256).
-- `decode_base64url` is ngx.base64's. The key's `material` identifies it across refetches.
function M.parse_jwk(jwk, decode_base64url)
  if type(jwk) ~= "table" then return nil, "not an object" end
  local kid = jwk.kid
  if type(kid) ~= "string" or kid == "" or #kid > 256 then return nil, "no kid" end
  if jwk.use ~= nil and jwk.use ~= "sig" then return nil, "use " .. tostring(jwk.use) end
  if jwk.key_ops ~= nil then
    local verify = false
    if type(jwk.key_ops) == "table" then
      for _, op in ipairs(jwk.key_ops) do if op == "verify" then verify = true end end
    end
    if not verify then return nil, "key_ops without verify" end
  end
  local b64 = function(v)
    if type(v) ~= "string" or v == "" then return nil end
    return decode_base64url(v)
  end
  local key = { kid = kid }
  if jwk.kty == "EC" then
    if jwk.alg ~= nil and jwk.alg ~= "ES256" then return nil, "EC key with alg " .. tostring(jwk.alg) end
    if jwk.crv ~= "P-256" then return nil, "curve " .. tostring(jwk.crv) end
    local x, y = b64(jwk.x), b64(jwk.y)
    if not x or not y or #x ~= 32 or #y ~= 32 then return nil, "bad P-256 coordinates" end
    key.kty, key.alg, key.signature_length = "EC", "ES256", 64
    key.material = "EC:" .. x .. y
    key.pkey = public_key(ec_p256_spki(x, y))
    if not key.pkey then return nil, "point not on P-256" end
  elseif jwk.kty == "RSA" then
    if jwk.alg ~= nil and jwk.alg ~= "RS256" then return nil, "RSA key with alg " .. tostring(jwk.alg) end
    local n, e = b64(jwk.n), b64(jwk.e)
    if not n or not e then return nil, "bad RSA n or e" end
    n, e = strip_leading_zeros(n), strip_leading_zeros(e)
    if #n < MIN_RSA_MODULUS_BYTES or #n > MAX_RSA_MODULUS_BYTES then return nil, "RSA modulus of " .. (#n * 8) .. " bits" end
    if #e > MAX_RSA_EXPONENT_BYTES then return nil, "RSA exponent too long" end
    key.kty, key.alg, key.signature_length = "RSA", "RS256", #n
    key.material = "RSA:" .. n .. ":" .. e
    key.pkey = public_key(rsa_spki(n, e))
    if not key.pkey then return nil, "RSA key refused by libcrypto" end
  else
    return nil, "kty " .. tostring(jwk.kty)
  end
  return key
end

--- Whether `signature` (raw bytes, as in the JWS) is `key`'s signature of `signing_input` under
-- `alg`, which must be the key's own algorithm.
function M.verify(key, alg, signing_input, signature)
  if alg ~= key.alg or type(signature) ~= "string" or #signature ~= key.signature_length then return false end
  if alg == "ES256" then signature = ecdsa_der_signature(signature) end
  local lib = libcrypto()
  local ctx = lib.EVP_MD_CTX_new()
  if ctx == nil then error("tenant-gate: EVP_MD_CTX_new failed") end
  local ok = lib.EVP_DigestVerifyInit(ctx, nil, lib.EVP_sha256(), nil, key.pkey) == 1
    and lib.EVP_DigestVerify(ctx, signature, #signature, signing_input, #signing_input) == 1
  lib.EVP_MD_CTX_free(ctx)
  -- A failed verification leaves errors on the thread's queue; other OpenSSL users must not see them.
  lib.ERR_clear_error()
  return ok
end

return M
