//! `churn-server`: the gRPC scoring service (scores customers by id from the latest feature snapshot).

fn main() {
    eprintln!("churn-server: the scoring service is not part of this release yet");
    std::process::exit(2);
}
