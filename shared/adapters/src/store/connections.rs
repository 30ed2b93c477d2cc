//! WebSocket connections, room memberships and room history in the single table, with TTL
//! (see docs/data-model.md): a connection lists its rooms, a room partition holds its members
//! and its messages.

use super::attrs::{get_number, get_opt_text, get_parsed, get_text, get_uuid, number, text, Row};
use super::keys::EXPIRES;
use super::{cancelled_conditions, condition_held, corrupt, keys, primary_key, send_transaction, unavailable, Table};
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem, Update};
use domain::clock::now_secs;
use domain::ports::Connections;
use domain::realtime::{
    Audience, ChatMessage, Connection, ConnectionId, Joined, Member, MessageText, RoomName, HISTORY_LEN, HISTORY_TTL,
    MAX_ROOMS_PER_CONNECTION,
};
use domain::StoreError;
use std::collections::HashMap;
use uuid::Uuid;

const ROOMS: &str = "rooms";
/// The login whose access token opened the connection.
const SESSION: &str = "session_id";

fn live(row: &Row) -> bool {
    get_number(row, EXPIRES) > now_secs()
}

fn connection_from(row: &Row) -> Result<Connection, StoreError> {
    Ok(Connection {
        id: ConnectionId::parse(get_text(row, "id")?).map_err(StoreError::Corrupt)?,
        user_id: get_uuid(row, "user_id")?,
        session: get_parsed(row, SESSION, Uuid::parse_str)?,
        connected_at: get_text(row, "connected_at")?.to_owned(),
        expires_at: get_number(row, EXPIRES),
    })
}

fn rooms_from(row: &Row) -> Vec<RoomName> {
    row.get(ROOMS)
        .and_then(|v| v.as_ss().ok())
        .into_iter()
        .flatten()
        .filter_map(|r| RoomName::parse(r).ok())
        .collect()
}

fn message_from(row: &Row) -> Result<ChatMessage, StoreError> {
    Ok(ChatMessage {
        id: get_uuid(row, "id")?,
        room: get_text(row, "room")?.to_owned(),
        user_id: get_uuid(row, "user_id")?,
        message: MessageText::parse(get_text(row, "message")?).map_err(StoreError::Corrupt)?,
        timestamp: get_text(row, "timestamp")?.to_owned(),
    })
}

impl Table {
    /// Every row of a partition whose sort key starts with `prefix`, page by page.
    async fn rows_with_prefix(&self, pk: String, prefix: &str) -> Result<Vec<Row>, StoreError> {
        let mut rows = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client()
                .query()
                .table_name(self.name())
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#pk", keys::PK)
                .expression_attribute_names("#sk", keys::SK)
                .expression_attribute_values(":pk", text(pk.clone()))
                .expression_attribute_values(":prefix", text(prefix))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            rows.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => return Ok(rows),
            }
        }
    }
}

impl Connections for Table {
    async fn open(&self, connection: &Connection) -> Result<(), StoreError> {
        let mut row = HashMap::from([
            (keys::PK.to_owned(), text(keys::connection(connection.id.as_str()))),
            (keys::SK.to_owned(), text(keys::CONNECTION_SK)),
            (
                keys::GSI1_PK.to_owned(),
                text(keys::user_connections(connection.user_id)),
            ),
            (
                keys::GSI1_SK.to_owned(),
                text(format!("{}#{}", connection.connected_at, connection.id)),
            ),
            ("id".to_owned(), text(connection.id.as_str())),
            ("user_id".to_owned(), text(connection.user_id.to_string())),
            ("connected_at".to_owned(), text(connection.connected_at.clone())),
            (EXPIRES.to_owned(), number(connection.expires_at)),
        ]);
        if let Some(session) = connection.session {
            row.insert(SESSION.to_owned(), text(session.to_string()));
        }
        self.client()
            .put_item()
            .table_name(self.name())
            .set_item(Some(row))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn connection(&self, id: &ConnectionId) -> Result<Option<Connection>, StoreError> {
        let row = self
            .get_item(keys::connection(id.as_str()), keys::CONNECTION_SK)
            .await?;
        row.filter(live).as_ref().map(connection_from).transpose()
    }

    async fn close(&self, id: &ConnectionId) -> Result<Option<(Connection, Vec<RoomName>)>, StoreError> {
        let old = self
            .client()
            .delete_item()
            .table_name(self.name())
            .set_key(Some(primary_key(keys::connection(id.as_str()), keys::CONNECTION_SK)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable)?
            .attributes;
        let Some(row) = old.filter(|row| !row.is_empty()) else {
            return Ok(None);
        };
        let connection = connection_from(&row)?;
        let rooms = rooms_from(&row);
        for room in &rooms {
            self.client()
                .delete_item()
                .table_name(self.name())
                .set_key(Some(primary_key(keys::room(room.as_str()), &keys::member(id.as_str()))))
                .send()
                .await
                .map_err(unavailable)?;
        }
        Ok(Some((connection, rooms)))
    }

    async fn of_user(&self, user_id: Uuid) -> Result<Vec<ConnectionId>, StoreError> {
        self.of_audience(user_id, &Audience::User).await
    }

    /// The user's connections, as `of_user` reads them, kept when the session that opened each
    /// is in the audience (the index projects every attribute: no read per connection).
    async fn of_audience(&self, user_id: Uuid, audience: &Audience) -> Result<Vec<ConnectionId>, StoreError> {
        let mut ids = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .newest_first(keys::GSI1, &keys::user_connections(user_id), None)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            for row in page.items.unwrap_or_default().iter().filter(|r| live(r)) {
                if audience.reaches(get_parsed(row, SESSION, Uuid::parse_str)?) {
                    ids.push(ConnectionId::parse(get_text(row, "id")?).map_err(StoreError::Corrupt)?);
                }
            }
            match page.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => return Ok(ids),
            }
        }
    }

    /// One transaction: the membership, and the room in the connection's list — only while the
    /// connection exists (a closed connection never gains a membership) and has room for it.
    async fn join(&self, room: &RoomName, connection: &Connection) -> Result<Joined, StoreError> {
        let member = Put::builder()
            .table_name(self.name())
            .set_item(Some(HashMap::from([
                (keys::PK.to_owned(), text(keys::room(room.as_str()))),
                (keys::SK.to_owned(), text(keys::member(connection.id.as_str()))),
                ("connection".to_owned(), text(connection.id.as_str())),
                ("user_id".to_owned(), text(connection.user_id.to_string())),
                (EXPIRES.to_owned(), number(connection.expires_at)),
            ])))
            .build()
            .map_err(corrupt)?;
        let listed = Update::builder()
            .table_name(self.name())
            .set_key(Some(primary_key(keys::connection(connection.id.as_str()), keys::CONNECTION_SK)))
            .update_expression("ADD #rooms :room")
            .condition_expression(
                "attribute_exists(#pk) AND (attribute_not_exists(#rooms) OR size(#rooms) < :max OR contains(#rooms, :name))",
            )
            .expression_attribute_names("#rooms", ROOMS)
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_values(":room", AttributeValue::Ss(vec![room.as_str().to_owned()]))
            .expression_attribute_values(":name", text(room.as_str()))
            .expression_attribute_values(":max", number(MAX_ROOMS_PER_CONNECTION))
            .build()
            .map_err(corrupt)?;
        let transaction = self
            .client()
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(member).build())
            .transact_items(TransactWriteItem::builder().update(listed).build());
        match send_transaction(transaction).await {
            Ok(_) => Ok(Joined::Joined),
            Err(err) if cancelled_conditions(&err).is_some_and(|failed| failed.contains(&true)) => {
                Ok(match self.connection(&connection.id).await? {
                    Some(_) => Joined::TooManyRooms,
                    None => Joined::ConnectionGone,
                })
            }
            Err(err) => Err(unavailable(err)),
        }
    }

    async fn leave(&self, room: &RoomName, connection: &ConnectionId) -> Result<bool, StoreError> {
        let old = self
            .client()
            .delete_item()
            .table_name(self.name())
            .set_key(Some(primary_key(
                keys::room(room.as_str()),
                &keys::member(connection.as_str()),
            )))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable)?
            .attributes;
        if old.is_none_or(|row| row.is_empty()) {
            return Ok(false);
        }
        let result = self
            .client()
            .update_item()
            .table_name(self.name())
            .set_key(Some(primary_key(
                keys::connection(connection.as_str()),
                keys::CONNECTION_SK,
            )))
            .update_expression("DELETE #rooms :room")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#rooms", ROOMS)
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_values(":room", AttributeValue::Ss(vec![room.as_str().to_owned()]))
            .send()
            .await;
        // `false`: the connection closed meanwhile, and there is nothing left to unlist.
        condition_held(result).map(|_| true)
    }

    async fn members(&self, room: &RoomName) -> Result<Vec<Member>, StoreError> {
        let rows = self
            .rows_with_prefix(keys::room(room.as_str()), keys::MEMBER_PREFIX)
            .await?;
        rows.iter()
            .filter(|r| live(r))
            .map(|row| {
                Ok(Member {
                    connection: ConnectionId::parse(get_text(row, "connection")?).map_err(StoreError::Corrupt)?,
                    user_id: get_uuid(row, "user_id")?,
                })
            })
            .collect()
    }

    async fn remember(&self, message: &ChatMessage) -> Result<(), StoreError> {
        self.client()
            .put_item()
            .table_name(self.name())
            .set_item(Some(HashMap::from([
                (keys::PK.to_owned(), text(keys::room(&message.room))),
                (keys::SK.to_owned(), text(keys::message(&message.timestamp, message.id))),
                ("id".to_owned(), text(message.id.to_string())),
                ("room".to_owned(), text(message.room.clone())),
                ("user_id".to_owned(), text(message.user_id.to_string())),
                ("message".to_owned(), text(message.message.as_str())),
                ("timestamp".to_owned(), text(message.timestamp.clone())),
                (EXPIRES.to_owned(), number(now_secs() + HISTORY_TTL.as_secs())),
            ])))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// The newest `HISTORY_LEN` messages by one descending query, returned oldest first.
    async fn history(&self, room: &RoomName) -> Result<Vec<ChatMessage>, StoreError> {
        let page = self
            .client()
            .query()
            .table_name(self.name())
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#sk", keys::SK)
            .expression_attribute_values(":pk", text(keys::room(room.as_str())))
            .expression_attribute_values(":prefix", text(keys::MESSAGE_PREFIX))
            .scan_index_forward(false)
            .limit(HISTORY_LEN as i32)
            .send()
            .await
            .map_err(unavailable)?;
        let mut messages = page
            .items
            .unwrap_or_default()
            .iter()
            .filter(|r| live(r) && get_opt_text(r, "message").is_some())
            .map(message_from)
            .collect::<Result<Vec<_>, _>>()?;
        messages.reverse();
        Ok(messages)
    }
}
