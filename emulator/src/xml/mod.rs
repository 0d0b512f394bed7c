//! Azure's XML: request bodies are read into a small element tree ([`parse`], tokenised by
//! quick-xml), walked in document order against the order Azure's DataContractSerializer
//! expected ([`Walk`] rejects missing, misspelled or out-of-order elements the way Azure
//! did), and responses are written in Azure's single-line, namespaced form
//! ([`XmlWriter`]) or, for the network configuration, the way .NET pretty-printed it.
//! Element order is what matters to Azure, and a tree keeps it; the module never decides
//! what an element means.

mod reader;
mod tree;
mod writer;

pub use reader::parse;
pub use tree::{Node, Walk, XmlError};
pub use writer::{error_body, escape_attribute, pretty_dotnet, XmlWriter, NS, NS_I};
