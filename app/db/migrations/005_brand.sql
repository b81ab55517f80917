-- 005_brand.sql: tenant brand profiles (reports/brand.c).
--
-- One row per tenant that has customised its brand; a tenant without a row
-- renders with the default brand. Every change writes evidence
-- `brand.updated` (field names and the logo digest, never the texts) in the
-- same transaction. The logo is a PNG (magic checked, decoded by cairo,
-- <= 256 KiB, <= 2048 x 2048 pixels) kept in the row with its SHA-256.

CREATE TABLE brand_profiles (
  tenant_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  display_name VARCHAR(120) NOT NULL DEFAULT '',
  primary_color CHAR(7) NOT NULL,             -- #RRGGBB
  accent_color CHAR(7) NOT NULL,              -- #RRGGBB
  footer_text VARCHAR(200) NOT NULL DEFAULT '',
  legal_disclaimer TEXT NOT NULL,             -- <= 2000 characters (checked in C)
  logo_png MEDIUMBLOB NULL,
  logo_sha256 CHAR(64) NULL,
  logo_width INT UNSIGNED NULL,
  logo_height INT UNSIGNED NULL,
  updated_at DATETIME(6) NOT NULL,
  updated_by BIGINT UNSIGNED NULL,            -- users.id (NULL: operator CLI)
  CONSTRAINT fk_brand_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;
