fn main() {
    println!("azure-classic-emulator: not yet implemented");
    std::process::exit(1);
}
