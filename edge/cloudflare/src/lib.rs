//! placeholder: the cloudflare adapter is being written
