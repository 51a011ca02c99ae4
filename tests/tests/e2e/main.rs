//! End-to-end tests: each starts the real `aethex` binary on 127.0.0.1:0 with its own
//! data folder and drives it over HTTP, mostly through `aethex-sdk`.

mod achievements;
mod analytics;
mod attacks;
mod auth;
mod authz;
mod cluster;
mod console;
mod dlc;
mod durability;
mod edge;
mod friends;
mod fuzz;
mod godot;
mod leaderboards;
mod logic;
mod matchmaking;
mod multiplayer;
mod oauth;
mod ops;
mod privacy;
mod rpc;
mod s3;
mod saves;
mod security;
mod teams;
