//! The exhaustive mapping from eddy's errors to gRPC statuses.
//!
//! Bad input is `INVALID_ARGUMENT`, unknown names `NOT_FOUND`, duplicates
//! `ALREADY_EXISTS`, backpressure and limits `RESOURCE_EXHAUSTED`, corruption
//! `DATA_LOSS`, shutting down `UNAVAILABLE`.

use eddy_consumers::functions::FunctionConfigError;
use eddy_consumers::invoke::InvokeError;
use eddy_consumers::manager::MappingError;
use eddy_shards::{
    AppendError, CreateStreamError, DeleteStreamError, InvalidArgument, NotFound, ReadError,
    StorageError,
};
use tonic::Status;

use crate::shard_iterator::IteratorError;
use crate::shard_reads::ShardReadError;

pub fn invalid_argument(err: InvalidArgument) -> Status {
    Status::invalid_argument(err.to_string())
}

pub fn not_found(err: NotFound) -> Status {
    Status::not_found(err.to_string())
}

pub fn storage(err: StorageError) -> Status {
    match err {
        StorageError::Io(_) => Status::internal(err.to_string()),
        StorageError::Corruption(_) => Status::data_loss(err.to_string()),
    }
}

pub fn shutting_down() -> Status {
    Status::unavailable("the server is shutting down")
}

pub fn create_stream(err: CreateStreamError) -> Status {
    match err {
        CreateStreamError::InvalidArgument(err) => invalid_argument(err),
        CreateStreamError::AlreadyExists(_) => Status::already_exists(err.to_string()),
        CreateStreamError::LimitExceeded(message) => Status::resource_exhausted(message),
        CreateStreamError::Storage(err) => storage(err),
        CreateStreamError::ShuttingDown => shutting_down(),
    }
}

pub fn delete_stream(err: DeleteStreamError) -> Status {
    match err {
        DeleteStreamError::NotFound(err) => not_found(err),
        DeleteStreamError::Storage(err) => storage(err),
        DeleteStreamError::ShuttingDown => shutting_down(),
    }
}

pub fn append(err: AppendError) -> Status {
    match err {
        AppendError::InvalidArgument(err) => invalid_argument(err),
        AppendError::NotFound(err) => not_found(err),
        AppendError::Overloaded(message) => Status::resource_exhausted(message),
        AppendError::Storage(err) => storage(err),
        AppendError::ShuttingDown => shutting_down(),
    }
}

pub fn read(err: ReadError) -> Status {
    match err {
        ReadError::InvalidArgument(err) => invalid_argument(err),
        ReadError::NotFound(err) => not_found(err),
        ReadError::Storage(err) => storage(err),
    }
}

pub fn iterator(err: IteratorError) -> Status {
    match err {
        IteratorError::Invalid => Status::invalid_argument(format!("`shard_iterator` {err}")),
        IteratorError::Expired { .. } => {
            Status::failed_precondition(format!("`shard_iterator` {err}"))
        }
    }
}

pub fn shard_read(err: ShardReadError) -> Status {
    match err {
        ShardReadError::InvalidArgument(err) => invalid_argument(err),
        ShardReadError::Iterator(err) => iterator(err),
        ShardReadError::NotFound(err) => not_found(err),
        ShardReadError::IteratorStreamDeleted(_) => Status::not_found(err.to_string()),
        ShardReadError::Read(err) => read(err),
    }
}

pub fn function_config(err: FunctionConfigError) -> Status {
    match err {
        FunctionConfigError::InvalidArgument(err) => invalid_argument(err),
        FunctionConfigError::NotFound(_) | FunctionConfigError::DestinationNotFound(_) => {
            Status::not_found(err.to_string())
        }
        FunctionConfigError::AlreadyExists(_) => Status::already_exists(err.to_string()),
        FunctionConfigError::Native(_) => Status::failed_precondition(err.to_string()),
        FunctionConfigError::Storage(err) => storage(err),
    }
}

pub fn invoke(err: InvokeError) -> Status {
    match err {
        InvokeError::InvalidArgument(err)
        | InvokeError::PayloadTooLarge(err)
        | InvokeError::PayloadNotJson(err) => invalid_argument(err),
        InvokeError::FunctionNotFound(_) => Status::not_found(err.to_string()),
        InvokeError::Throttled(message) => Status::resource_exhausted(message),
        InvokeError::Storage(err) => storage(err),
    }
}

pub fn mapping(err: MappingError) -> Status {
    match err {
        MappingError::InvalidArgument(err) => invalid_argument(err),
        MappingError::NotFound(_)
        | MappingError::FunctionNotFound(_)
        | MappingError::StreamNotFound(_) => Status::not_found(err.to_string()),
        MappingError::Storage(err) => storage(err),
    }
}
