fn main() {
    std::process::exit(elasticluster::cli::main());
}
