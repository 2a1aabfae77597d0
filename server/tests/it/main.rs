//! Integration tests of `churn-server`, in one binary so that a clean build links it once.

mod cli;
mod common;
mod inference;
mod lifecycle;
mod limits;
mod overload;
mod reflection;
mod rpc;
mod security;
mod swaps;
mod trainer_parity;
