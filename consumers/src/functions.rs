//! The functions the pollers can invoke. For now: native (in-process Rust) handlers
//! registered through the library API. The process runtime (workers speaking the Lambda
//! Runtime API) will register here too.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;

use crate::handler::NativeHandler;

/// Lambda's default function timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Clone)]
pub struct Function {
    pub name: String,
    pub handler: Arc<dyn NativeHandler>,
    pub timeout: Duration,
}

/// Functions by name.
#[derive(Default)]
pub struct FunctionRegistry {
    functions: RwLock<HashMap<String, Function>>,
}

impl FunctionRegistry {
    /// Registers (or replaces) an in-process handler under `name`.
    pub fn register_native(&self, name: &str, handler: Arc<dyn NativeHandler>, timeout: Duration) {
        self.functions.write().insert(
            name.to_string(),
            Function {
                name: name.to_string(),
                handler,
                timeout,
            },
        );
    }

    pub fn get(&self, name: &str) -> Option<Function> {
        self.functions.read().get(name).cloned()
    }

    pub fn remove(&self, name: &str) -> bool {
        self.functions.write().remove(name).is_some()
    }
}
